"""fxo_fxs"""
