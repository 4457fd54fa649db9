#!/bin/sh
# Run by vigil when this node stops being primary, before the VIP is removed.
exec systemctl stop vms
