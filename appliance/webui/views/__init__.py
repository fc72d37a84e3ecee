"""One module per page group, each with a blueprint `bp`."""
