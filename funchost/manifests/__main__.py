"""`python -m funchost.manifests PATH --out DIR` (the same as `funchost manifests`)."""

from funchost.manifests.command import main

main()
