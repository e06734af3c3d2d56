"""The dashboard under `/ui`: server-rendered pages (Jinja2) over the server's database.

`server.ui.routes.router` is included by `server.app.create_app`; the pages read through
`server.ui.queries`, the templates and the one small script live beside them as package data.
"""
