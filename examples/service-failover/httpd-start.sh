#!/bin/sh
# Run by vigil when this node becomes primary for the httpd module, after the VIP is up.
exec systemctl start apache2
