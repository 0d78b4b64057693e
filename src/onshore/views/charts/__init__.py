"""Charts of the risk and plan results (plotly HTML and matplotlib PNG)."""
