"""The pages the front door serves itself, through real Envoy: the OpenAPI document, and /ui and
/docs in a real browser (Debian's chromium, driven by Playwright). /ui plans, charts, watches the
planner and pages through stored plans with the TypeScript client over gRPC-Web; /docs renders
the document with Redoc, loading nothing from anywhere but the front door.

Screenshots are kept in build/test-artifacts/ (not committed)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from bridge.envoy.config import PAGES
from tests.conftest import EnvoyProcess
from tests.support import game_state_pb
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.app import Application
from throttling_sequencer.domain.ports import PlanRepository

#: How long the page may take for anything (a readiness wait: it ends as soon as the page is there).
PAGE_WITHIN_MS = 60_000
PAGE_SIZE = 10  # clients/web/ui/src/main.ts


@pytest.fixture(scope="module")
def artifacts(repo_root: Path) -> Path:
    directory = repo_root / "build" / "test-artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium (never Playwright's own browser download)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is missing: `make test` installs it (tools/ensure-system-deps)")
    async with async_playwright() as playwright:
        # Chromium's sandbox refuses to run as root.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = await playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Visit:
    """A browser tab on the front door, and what went wrong or elsewhere while it was open."""

    page: Page
    origin: str
    #: Console errors and uncaught exceptions.
    errors: list[str] = field(default_factory=list)
    #: Responses from any origin but the front door's.
    elsewhere: list[str] = field(default_factory=list)
    #: gRPC-Web calls the page made: (path, content type).
    calls: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
async def visit(browser: Browser, envoy: EnvoyProcess) -> AsyncIterator[Visit]:
    context = await browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(PAGE_WITHIN_MS)
    page = await context.new_page()
    found = Visit(page, envoy.url)
    page.on("console", lambda m: found.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: found.errors.append(str(error)))

    def response(url: str) -> None:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != envoy.url and parts.scheme != "data":
            found.elsewhere.append(url)

    page.on("response", lambda r: response(r.url))
    page.on(
        "request",
        lambda r: (
            found.calls.append((urlsplit(r.url).path, r.headers.get("content-type", "")))
            if r.method == "POST"
            else None
        ),
    )
    try:
        yield found
    finally:
        await context.close()


async def open_ui(visit: Visit) -> Page:
    page = visit.page
    await page.goto(f"{visit.origin}/ui")
    await page.wait_for_selector("body[data-ready=true]")
    return page


async def field_value(page: Page, name: str) -> str:
    value = await page.get_attribute(f'#score dd[data-field="{name}"]', "data-value")
    assert value is not None, f"the page shows no {name}"
    return value


async def series(page: Page, chart: str, name: str) -> list[float]:
    values = await page.get_attribute(f'figure[data-chart="{chart}"] [data-series="{name}"]', "data-values")
    assert values is not None, f"no {name} series in the {chart} chart"
    loaded: list[float] = json.loads(values)
    return loaded


async def test_the_front_door_serves_the_openapi_document_and_the_pages(
    envoy: EnvoyProcess, repo_root: Path
) -> None:
    async with httpx.AsyncClient(base_url=envoy.url) as client:
        for path, page in PAGES.items():
            reply = await client.get(path)
            assert reply.status_code == 200, (path, reply.text[:200])
            assert reply.headers["content-type"] == page.content_type, path
            assert reply.content == (repo_root / "gen" / page.file).read_bytes(), path
            assert reply.headers.get("content-security-policy", "") == page.policy, path
        document = (await client.get("/api/v1/openapi.json")).json()
        assert document["openapi"].startswith("3.") and "/api/v1/plans" in document["paths"]
        for path, target in (("/", "/ui"), ("/ui/", "/ui"), ("/docs/", "/docs")):
            moved = await client.get(path)
            assert (moved.status_code, moved.headers["location"]) == (302, f"{envoy.url}{target}"), path


async def test_the_ui_plans_the_default_payload_and_charts_each_tick(
    visit: Visit, stub: ThrottlingServiceStub, artifacts: Path
) -> None:
    page = await open_ui(visit)
    await page.click("#plan")
    await page.wait_for_selector("#result[data-state=done] figure[data-chart=distance]")
    await page.screenshot(path=str(artifacts / "ui-plan.png"), full_page=True)

    plan_id = (await page.inner_text("#plan-id")).strip()
    stored = (await stub.GetPlan(pb.GetPlanRequest(plan_id=plan_id))).plan
    assert stored.game_state.enemy_units[0].coordinate.x == 5000  # the default payload
    # The score, its parts, the bound and the gap, as the server has them.
    assert float(await field_value(page, "score.total")) == stored.score.total
    assert int(await field_value(page, "score.ticks")) == stored.score.ticks == len(stored.goals)
    assert float(await field_value(page, "lowerBound")) == stored.lower_bound
    assert float(await field_value(page, "optimalityGap")) == stored.optimality_gap
    assert await field_value(page, "provenOptimal") == str(stored.proven_optimal).lower()
    # A chart per tick: the throttles, and the speed and distance they lead to, which end where
    # the server's simulator says the plan ends.
    assert await series(page, "throttle", "throttle") == [goal.throttle for goal in stored.goals]
    assert await page.locator('figure[data-chart="throttle"] rect').count() == len(stored.goals)
    speed = await series(page, "speed", "speed")
    covered = await series(page, "distance", "covered")
    assert len(speed) == len(covered) == len(stored.goals)
    assert math.isclose(speed[-1], stored.final_speed, rel_tol=1e-9)
    assert math.isclose(covered[-1], stored.distance_covered, rel_tol=1e-9)
    target = await page.get_attribute('figure[data-chart="distance"] [data-reference="target"]', "data-value")
    assert target is not None and math.isclose(float(target), stored.target_distance)
    # Over gRPC-Web through the front door, and nothing went wrong on the way.
    assert ("/throttling.v1.ThrottlingService/CreatePlan", "application/grpc-web+proto") in visit.calls
    assert visit.errors == [] and visit.elsewhere == []


async def test_the_ui_watches_the_planner_improve_a_plan(visit: Visit, artifacts: Path) -> None:
    page = await open_ui(visit)
    options = {"strategy": "STRATEGY_GENETIC", "timeBudgetMs": 300, "seed": 11}
    await page.fill("#options", json.dumps(options))
    await page.click("#watch")
    await page.wait_for_selector("#result[data-state=done] figure[data-chart=improvements]")
    await page.screenshot(path=str(artifacts / "ui-watch.png"), full_page=True)
    improvements = int(await page.get_attribute("#result", "data-improvements") or "0")
    assert improvements >= 1
    totals = await series(page, "improvements", "score")
    assert len(totals) == improvements
    assert all(later <= earlier for earlier, later in itertools.pairwise(totals)), totals
    # The stored plan is the last improvement.
    assert float(await field_value(page, "score.total")) == totals[-1]
    streamed = ("/throttling.v1.ThrottlingService/StreamPlanProgress", "application/grpc-web+proto")
    assert streamed in visit.calls
    assert visit.errors == [] and visit.elsewhere == []


async def plan_ids(page: Page) -> list[str]:
    return [
        value
        for value in await page.locator("#plans tr").evaluate_all("rows => rows.map(r => r.dataset.planId)")
        if value
    ]


async def test_the_ui_pages_through_stored_plans(visit: Visit, stub: ThrottlingServiceStub) -> None:
    quick = planning_pb2.PlannerOptions(strategy=planning_pb2.STRATEGY_RANDOM, time_budget_ms=50)
    for _ in range(PAGE_SIZE + 1):  # at least two pages, whatever else the session stored
        await stub.CreatePlan(pb.CreatePlanRequest(game_state=game_state_pb(), options=quick))
    page = await open_ui(visit)
    await page.wait_for_selector("#page:has-text('page 1')")
    first = await plan_ids(page)
    newest = (await stub.ListPlans(pb.ListPlansRequest(page_size=PAGE_SIZE))).plans
    assert first == [plan.plan_id for plan in newest]
    assert await page.is_disabled("#newer") and await page.is_enabled("#older")

    await page.click("#older")
    await page.wait_for_selector("#page:has-text('page 2')")
    second = await plan_ids(page)
    assert second and not set(second) & set(first)
    await page.click("#newer")
    await page.wait_for_selector("#page:has-text('page 1')")
    assert await plan_ids(page) == first

    await page.click(f'#plans tr[data-plan-id="{first[3]}"] button')
    await page.wait_for_selector(f"#plan-id:has-text('{first[3]}')")
    assert float(await field_value(page, "score.total")) == newest[3].score.total
    assert visit.errors == [] and visit.elsewhere == []


async def test_a_plan_proven_optimal_says_so(
    visit: Visit, stub: ThrottlingServiceStub, app: Application
) -> None:
    """The exact planner proves the default payload optimal; a stored copy that was not proven
    (as a genetic plan, or one cut short by its budget) says so too."""
    created = (await stub.CreatePlan(pb.CreatePlanRequest(game_state=game_state_pb()))).plan
    assert created.proven_optimal
    repository: PlanRepository = app.container.resolve(PlanRepository)
    plan = await repository.get(uuid.UUID(created.plan_id), owner=None)
    unproven = dataclasses.replace(
        plan, plan_id=uuid.uuid4(), created_at=datetime.now(UTC), proven_optimal=False
    )
    await repository.add(unproven)
    page = await open_ui(visit)
    for plan_id, shown in ((plan.plan_id, "true"), (unproven.plan_id, "false")):
        await page.click(f'#plans tr[data-plan-id="{plan_id}"] button')
        await page.wait_for_selector(f"#plan-id:has-text('{plan_id}')")
        assert await field_value(page, "provenOptimal") == shown
    assert visit.errors == [] and visit.elsewhere == []


async def test_the_ui_names_the_field_an_invalid_input_breaks(visit: Visit) -> None:
    page = await open_ui(visit)
    state = json.loads(await page.input_value("#game-state"))
    state["playerUnits"][0]["mass"] = -1
    await page.fill("#game-state", json.dumps(state))
    await page.click("#plan")
    await page.wait_for_selector("#status[data-kind=error]")
    assert (await page.inner_text("#status")).startswith("InvalidArgument:")
    assert (await page.inner_text("#violations")).startswith("game_state.player_units[0].mass:")

    await page.fill("#game-state", "{not json")
    await page.click("#plan")
    await page.wait_for_selector("#status:has-text('game state: not JSON')")
    # The refused call is the only error the browser reports (its HTTP status is 200: gRPC-Web).
    assert visit.errors == [] and visit.elsewhere == []


async def test_the_docs_page_renders_every_route_from_the_front_door_alone(
    visit: Visit, artifacts: Path, repo_root: Path
) -> None:
    document = json.loads((repo_root / "gen" / "openapi" / "throttling.openapi.json").read_text())
    page = visit.page
    await page.goto(f"{visit.origin}/docs")
    for path in document["paths"]:
        await page.get_by_text(path, exact=True).first.wait_for()
    await page.screenshot(path=str(artifacts / "docs.png"))
    # Redoc's attribution logo is an image on its CDN: the page's policy refuses it, so nothing
    # is fetched from elsewhere (that refusal, and its search's eval probe, are all it reports).
    assert visit.elsewhere == []
    unexpected = [e for e in visit.errors if "Content Security Policy" not in e and "'script-src'" not in e]
    assert unexpected == []
