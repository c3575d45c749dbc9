"""The model gateway: one message format, tiers of candidates, breakers, costs and the cap.

Import from the modules themselves (``engine.gateway.router``, ``.messages``, ``.errors``):
this package stays empty so that loading its light parts never loads the provider SDKs.
"""
