"""One `APIRouter` per resource; `server.api.main` includes them in the order they are served."""
