"""The repomend server (`repomend serve`): the HTTP API editors and the dashboard talk to.

`server.app.create_app` builds it: one router per resource in `server.api.routes`, the repair
queue in `server.jobs` (each job runs the one loop, `repomend.loop.repair`), the database in
`server.db`, adapters in `server.adapters`, retraining in `server.retraining`, the dashboard in
`server.ui`.
"""
