"""A stand-in for NanoMDM and its devices (standard library only); see README.md."""
