#!/bin/sh
# Run by vigil on every state change of a module: MODULE FROM TO REASON,
# for example "httpd SECOND PRIM peer-dead". Replace with a mail or a pager.
logger -t vigil-notify "module $1: $2 -> $3 ($4)"
