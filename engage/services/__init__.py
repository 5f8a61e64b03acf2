"""Write paths of the engagement app, one module per topic."""
