/**
 * The status page in a real headless Chromium (Debian's package, see test/setup/chromium.ts):
 * profcol runs pipelines/default.yaml with its ports moved, real dd-trace-go v2 uploads arrive,
 * the Go pull target is scraped, and the test checks what a person would see.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePprof } from '@profcol/pprof';
import { defaultPipelineOnFreePorts, repoRoot, startProfcol, type RunningProfcol } from '../lib/profcol.js';
import { ensureChromium } from '../setup/chromium.js';
import { buildGoProgram, startGoProgram, type DdtraceDemoReady, type GoProcess, type PprofTargetReady } from '../setup/go-build.js';

/** Where the screenshot goes (the README's docs/status-page.png is a copy of one). */
export const ARTIFACTS = path.join(repoRoot, 'test', 'e2e-status', '.artifacts');
const PUSH_SERVICE = 'ddtrace-demo-v2';
const PULL_SERVICE = 'go-pull-demo';
/** A secret the pull target is configured with: the page must never show it. */
const SECRET_TOKEN = 'status-page-must-not-show-this-3f9c1e';
/** The Go demo programs' own busy loop, a frame every CPU profile of them has. */
const BUSY_LOOP = 'main.spinWorker';

describe('status page in headless Chromium, profcol on the default pipeline', () => {
  let dir: string;
  let profcol: RunningProfcol | undefined;
  let pullTarget: GoProcess<PprofTargetReady> | undefined;
  let pushDemo: GoProcess<DdtraceDemoReady> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let statusUrl: string;
  let ddtraceAddr: string;
  /** Every URL the page asked for, and the ones that left profcol (none may). */
  const requested: string[] = [];
  const offsite: string[] = [];
  let pushBin: string;

  beforeAll(async () => {
    const [chromiumPath, pullBin, demoBin] = await Promise.all([ensureChromium(), buildGoProgram('pprof-target'), buildGoProgram('ddtrace-demo-v2')]);
    pushBin = demoBin;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-status-'));
    pullTarget = await startGoProgram<PprofTargetReady>(pullBin, ['-addr', '127.0.0.1:0', '-spin', '1']);
    // pipelines/default.yaml with every address moved to a free loopback port (the helper refuses a
    // default address it does not know to move), then this test's own settings: the one pull
    // target is the Go program above (with a bearer token the page must not show), scraped from
    // the first tick on (jitter 0s) so its first round ends within ~10 s.
    const freePorts = await defaultPipelineOnFreePorts(dir);
    ddtraceAddr = freePorts.ddtrace;
    const override = path.join(dir, 'status-test.yaml');
    fs.writeFileSync(
      override,
      JSON.stringify({
        receivers: {
          pprof: {
            jitter: '0s',
            bearer_token: SECRET_TOKEN,
            targets: [{ url: `http://${pullTarget.ready.addr}`, service: PULL_SERVICE, env: 'e2e', version: '2.0.0' }],
          },
        },
        extensions: { status: { refresh: '500ms' } },
      }),
    );
    profcol = await startProfcol([...freePorts.configs, override], { cwd: dir });
    const announced = await profcol.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('status page at '));
    statusUrl = String(announced.url);
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    // Offline: anything not served by profcol is refused and noted.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      requested.push(url);
      if (url.startsWith(statusUrl)) return route.continue();
      offsite.push(url);
      return route.abort();
    });
    page = await context.newPage();
    await page.goto(statusUrl);
  }, 20 * 60_000);

  afterAll(async () => {
    await browser?.close();
    await pushDemo?.stop();
    await pullTarget?.stop();
    await profcol?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs the page address among its first lines', () => {
    const index = profcol!.logs.findIndex((l) => typeof l.msg === 'string' && l.msg.startsWith('status page at '));
    expect(index).toBeGreaterThanOrEqual(0);
    expect(index, 'one of the first five log lines').toBeLessThan(5);
  });

  it('draws the pipeline graph with every component of the default pipeline', async () => {
    const boxes = page.locator('#pipelines svg g.component');
    await expect.poll(() => boxes.count()).toBe(6);
    const drawn = await boxes.evaluateAll((gs) => gs.map((g) => `${g.getAttribute('data-kind')} ${g.querySelector('.id')!.textContent}`));
    expect(drawn.sort()).toEqual(
      ['exporter console', 'exporter file', 'processor goruntime', 'processor pprof_decode', 'receiver ddtrace', 'receiver pprof'].sort(),
    );
    expect(await page.locator('#pipelines svg path.arrow').count(), 'arrows ddtrace/pprof → pprof_decode → goruntime → console/file').toBe(2 + 1 + 2);
  });

  it('moves the ddtrace counters after real dd-trace-go uploads, without reloading', async () => {
    const acceptedText = () => page.locator('#pipelines g.component[data-id="ddtrace"] text.counter').allTextContents();
    const accepted = (lines: string[]) => Number(/^accepted_uploads\s+([\d,]+)$/m.exec(lines.join('\n'))?.[1]?.replaceAll(',', '') ?? 0);
    expect(accepted(await acceptedText()), 'nothing uploaded yet').toBe(0);
    pushDemo = await startGoProgram<DdtraceDemoReady>(pushBin, ['-spin', '1', '-spin-duty', '1'], {
      PROFCOL_AGENT_ADDR: ddtraceAddr,
      PROFCOL_PERIOD: '5s',
      PROFCOL_EXIT_AFTER: '120s',
    });
    await expect.poll(async () => accepted(await acceptedText()), { timeout: 60_000, intervals: [500] }).toBeGreaterThanOrEqual(1);
  });

  it('shows the pushing service with its Go runtime metrics and sparklines', async () => {
    const card = page.locator(`article.service[data-service="${PUSH_SERVICE}"]`);
    await expect.poll(() => card.locator('tr[data-metric^="prof_go_"]').count(), { timeout: 30_000, intervals: [500] }).toBeGreaterThanOrEqual(5);
    const goroutines = card.locator('tr[data-metric="prof_go_num_goroutine"] td.num');
    expect(Number((await goroutines.first().textContent())!.replace(/[^\d]/g, '')), 'goroutines the demo runs').toBeGreaterThan(5);
    expect(await card.locator('tr[data-metric] svg path.sparkline').count()).toBeGreaterThanOrEqual(5);
    expect(await card.locator('.service-head').textContent()).toContain('env e2e');
  });

  it("draws a CPU flame graph of the pushing service whose frames are named after the Go program's functions", async () => {
    const flame = page.locator(`article.service[data-service="${PUSH_SERVICE}"] .flame-panel[data-type="cpu"] .flame`);
    const busy = flame.locator(`svg g.frame[name="${BUSY_LOOP}"]`);
    await expect.poll(() => busy.count(), { timeout: 30_000, intervals: [500] }).toBeGreaterThanOrEqual(1);
    // Every frame carries its name as SVG title text, for assistive tools.
    const titles = await flame.locator('svg g.frame title').allTextContents();
    expect(titles.some((t) => t.startsWith(`${BUSY_LOOP}:`))).toBe(true);
    expect(titles.some((t) => t.startsWith('runtime.'))).toBe(true);
  });

  it('zooms into a frame when it is clicked', async () => {
    const flame = page.locator(`article.service[data-service="${PUSH_SERVICE}"] .flame-panel[data-type="cpu"] .flame`);
    const frame = flame.locator(`svg g.frame[name="${BUSY_LOOP}"]`).first();
    const graphWidth = Number(await flame.locator('svg').first().getAttribute('width'));
    expect(graphWidth).toBeGreaterThan(0);
    const before = Number(await frame.locator('rect').getAttribute('width'));
    expect(before).toBeLessThan(graphWidth - 1);
    await frame.click();
    // The zoom is animated: wait until the clicked frame spans the whole graph.
    await expect
      .poll(async () => Math.abs(Number(await frame.locator('rect').getAttribute('width')) - graphWidth), {
        timeout: 5_000,
        message: 'the clicked frame spans the graph',
      })
      .toBeLessThan(1);
  });

  it('links the original profile as a .pprof that go tool pprof reads', async () => {
    const link = page.locator(`article.service[data-service="${PUSH_SERVICE}"] .flame-panel[data-type="cpu"] a[download]`);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^${PUSH_SERVICE}-cpu-.*\\.pprof$`));
    const file = await download.path();
    const profile = decodePprof(gunzipSync(fs.readFileSync(file)));
    const names = new Set(profile.function.map((f) => profile.stringTable.strings[Number(f.name)]));
    expect(names.has(BUSY_LOOP)).toBe(true);
  });

  it("shows the pull target's last round, and the pulled service with its flame graph", async () => {
    const row = page.locator('#targets tr[data-target]');
    // The first round emits the CPU and goroutine profiles; heap, mutex and block become baselines.
    await expect.poll(() => row.locator('td').nth(3).textContent(), { timeout: 45_000, intervals: [500] }).toMatch(/^(success|partial)$/);
    expect(await row.locator('td').nth(1).textContent()).toBe(PULL_SERVICE);
    expect(await row.locator('td').nth(6).textContent(), 'no backoff').toBe('no');
    expect(await row.locator('td').nth(7).textContent()).toMatch(/^(now|in .+)$/);
    const card = page.locator(`article.service[data-service="${PULL_SERVICE}"]`);
    await expect
      .poll(() => card.locator(`.flame-panel[data-type="cpu"] svg g.frame[name="${BUSY_LOOP}"]`).count(), { timeout: 30_000, intervals: [500] })
      .toBeGreaterThanOrEqual(1);
    expect(await card.locator('tr[data-metric^="prof_go_"]').count()).toBeGreaterThanOrEqual(3);
  });

  it('draws a heap flame graph (in-use space) of the pushing service', async () => {
    const flame = page.locator(`article.service[data-service="${PUSH_SERVICE}"] .flame-panel[data-type="heap"] .flame`);
    await expect.poll(() => flame.locator('svg g.frame').count(), { timeout: 30_000, intervals: [500] }).toBeGreaterThan(1);
    expect(await flame.getAttribute('data-sample-type')).toBe('inuse_space');
  });

  it('shows nothing secret and was served entirely by profcol (works offline)', async () => {
    const html = await page.content();
    const api = await (await fetch(new URL('/api/status', statusUrl))).text();
    expect(html).not.toContain(SECRET_TOKEN);
    expect(api).not.toContain(SECRET_TOKEN);
    expect(offsite, 'requests that left profcol').toEqual([]);
    expect(requested.some((u) => u.endsWith('/vendor/d3-flamegraph.min.js'))).toBe(true);
  });

  it('saves a screenshot of the page as a test artifact', async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'status-page.png');
    // A fresh page (the zoom test left one graph zoomed), with every flame graph drawn and its
    // entry animation over, as a person opening the page sees it.
    await page.reload();
    for (const service of [PUSH_SERVICE, PULL_SERVICE]) {
      const busy = page.locator(`article.service[data-service="${service}"] .flame-panel[data-type="cpu"] svg g.frame[name="${BUSY_LOOP}"]`);
      await expect.poll(() => busy.count(), { timeout: 30_000, intervals: [250] }).toBeGreaterThanOrEqual(1);
    }
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: file, fullPage: true });
    expect(fs.statSync(file).size).toBeGreaterThan(10_000);
  });
});
