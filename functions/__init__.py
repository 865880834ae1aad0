"""The task agent: a stateful task manager with a chat assistant, as a folder of functions.

Run it with ``funchost run functions/``; see functions/README.md for a five-minute tour.
"""
