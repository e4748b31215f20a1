"""Renderers: reports in, text / DOT / SVG / plotly figures out. No analysis happens here."""
