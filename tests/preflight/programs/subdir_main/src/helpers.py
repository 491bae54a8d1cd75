# Same module name as basic/helpers.py on purpose: runs must not see each other's local modules.
MARKER = "subdir"
