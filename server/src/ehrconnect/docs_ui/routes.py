"""/docs (Swagger UI, no CDN) and /docs/errors (every error code, the `doc_url` target)."""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from ehrconnect.errors import CATALOGUE

HERE = Path(__file__).parent
#: Swagger UI 5.x (needed for OpenAPI 3.1, which FastAPI emits), shipped inside fastapi-offline.
SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

router = APIRouter(include_in_schema=False)

_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ehrconnect API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="/docs/assets/favicon.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/static/init.js"></script></body></html>"""


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_PAGE, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs/errors")
async def error_catalogue() -> HTMLResponse:
    rows = "\n".join(
        f'<tr id="{html.escape(e.code)}"><td><code>{html.escape(e.code)}</code></td>'
        f"<td><code>{html.escape(e.type)}</code></td><td>{e.status}</td><td>{html.escape(e.description)}</td></tr>"
        for e in CATALOGUE
    )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>ehrconnect error codes</title>
<link rel="stylesheet" href="/docs/static/docs.css"></head><body><main>
<h1>Error codes</h1>
<p>Every error is <code>{{"error": {{type, code, message, param, doc_url, request_id}}}}</code>.
Branch on <code>code</code>; quote <code>request_id</code> when you ask for help.</p>
<table><thead><tr><th>code</th><th>type</th><th>HTTP</th><th>meaning</th></tr></thead>
<tbody>{rows}</tbody></table></main></body></html>"""
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})


def mount_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")
    app.mount("/docs/static", StaticFiles(directory=HERE / "static"), name="docs-static")
