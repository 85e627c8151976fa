"""The service layer: browser sessions and classrooms over the simulation, with limits.

Plain Python (no Flask). Imports point one way: ``sessions`` -> ``classroom`` (for types only)
-> ``frame_state``; a classroom never imports the session module.
"""
