"""The classroom: the dashboard's model, levers, presets and views (dashboard.py) and its Solara page
(app.py). Built on the engine; the engine never imports it."""
