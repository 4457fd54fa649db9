#!/bin/sh
# Run by vigil when this node becomes primary, once /var/lib/vms is up to date and the VIP is up.
exec systemctl start vms
