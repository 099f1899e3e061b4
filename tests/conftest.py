import os

# The dashboard trains null toys in a worker thread next to the script thread; idle OpenMP threads
# that spin would starve it on a 2-core machine (the app sets the same default before importing torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
