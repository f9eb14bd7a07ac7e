// The detection page at / (gateway/public), in a real headless Chromium (Debian's `chromium`,
// installed by scripts/setup.sh, driven by playwright-core): the real gateway app on a free port,
// a real MinIO, a fake inference client, and the reconciler running so tasks finish. The browser
// reaches 127.0.0.1 only. A screenshot of the drawn result goes to test-artifacts/web-page.png.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page, type Route } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { DETECTION_DEFAULTS } from '../src/detection/detection-defaults.js';
import type { DetectionOutcome } from '../src/detection/dto.js';
import { publicDir } from '../src/http/app.js';
import { detectionPage } from '../src/http/detection-page.js';
import { checked } from './support/contract.js';
import { FakeInference, middleBox } from './support/fake-inference.js';
import { type RunningGateway, startGateway, startMinio, testConfig } from './support/harness.js';
import { shapeImage } from './support/images.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(root, 'test-artifacts');
const SHAPE_PNG = path.join(root, 'gateway/test/fixtures/shape.png');
const KEY = 'page-test-secret';
const MAX_IMAGE_BYTES = 64 * 1024;

/** Why there is no browser: setup.sh's note, or where it looked. Empty when there is one. */
function noChromium(): string {
  if (fs.existsSync(CHROMIUM)) return '';
  const note = path.join(root, '.stack/chromium-unavailable');
  const why = fs.existsSync(note) ? fs.readFileSync(note, 'utf8').trim() : 'scripts/setup.sh has not run';
  return `no Chromium at ${CHROMIUM} (${why}); run \`npm run setup\` as root, or set CHROMIUM_PATH`;
}
const missing = noChromium();
if (missing) console.warn(`[web-page.test.ts] SKIPPED, the page is not tested in a browser: ${missing}`);

/** Three boxes of two classes, so the count drawn means something. */
function threeBoxes(image: Buffer): DetectionOutcome {
  const base = middleBox(image).response;
  if (!base) throw new Error('middleBox always answers');
  return {
    response: {
      ...base,
      instances: [
        { boundingBox: '0.5000 0.5000 0.2500 0.2500', class: '1', className: 'square', confidence: 0.91 },
        { boundingBox: '0.2000 0.3000 0.2000 0.3000', class: '0', className: 'circle', confidence: 0.62 },
        { boundingBox: '0.8000 0.7500 0.2500 0.3000', class: '2', className: 'triangle', confidence: 0.48 },
      ],
      inference_ms: 12.34,
    },
    error: null,
  };
}

/** The little of a <canvas> the test reads in the page (the test itself compiles without the DOM's types). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}

let stack: TestStack;
let gw: RunningGateway;

beforeAll(async () => {
  stack = await startMinio();
  gw = await startGateway(testConfig(stack, { MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES) }), {
    reconcile: true,
    inference: new FakeInference(threeBoxes),
  });
});
afterAll(async () => {
  await gw?.close();
  await stack?.stop();
});

describe('the page beside the API', () => {
  it('when / is asked for, then the page comes with a strict Content-Security-Policy and its files', async () => {
    const page = await request(gw.url).get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(page.text).toContain('<script type="module" src="app.js"></script>');
    const script = await request(gw.url).get('/app.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    expect((await request(gw.url).get('/style.css')).headers['content-type']).toMatch(/^text\/css/);
  });

  it('when the gateway image is built, then it ships the page where the gateway looks for it', () => {
    expect(publicDir).toBe(path.join(root, 'gateway/public'));
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile.gateway'), 'utf8');
    expect(dockerfile).toMatch(/^COPY gateway\/public gateway\/public$/m);
  });

  it('when the API and operations endpoints are called, then they answer as before the page', async () => {
    expect((await checked(request(gw.url).get('/healthz'))).body).toEqual({ status: 'ok' });
    expect((await checked(request(gw.url).get('/readyz'))).status).toBe(200);
    expect((await checked(request(gw.url).get('/metrics'))).text).toMatch(/^detection_queue_depth /m);
    const docs = await request(gw.url).get('/docs/');
    expect(docs.status).toBe(200);
    expect(docs.text).toMatch(/swagger-ui/i);
    expect((await checked(request(gw.url).get('/image/detect'))).body.error.code).toBe('invalid_request');
    const accepted = await checked(
      request(gw.url).post('/image/detect').attach('image', shapeImage('png'), 'a.png'),
    );
    expect(accepted.status).toBe(202);
    const unknown = await request(gw.url).get('/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await request(gw.url).post('/')).body.error.code).toBe('not_found');
  });
});

describe.skipIf(Boolean(missing))('the page in Chromium', () => {
  let browser: Browser;
  /** Requests the page tried to send anywhere but the gateway under test. */
  const outside: string[] = [];

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in a container has no user namespaces for the sandbox; nothing but 127.0.0.1 resolves.
      args: ['--no-sandbox', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    expect(outside).toEqual([]);
  });

  /** Errors the page's script raised or logged (an HTTP error status of a fetch aside). */
  const problems = new WeakMap<Page, string[]>();

  /** The page in a fresh context (its own localStorage and sessionStorage), loaded. */
  async function openPage(url: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await ctx.route('**/*', (route) => {
      const target = new URL(route.request().url());
      if (target.hostname === '127.0.0.1') return route.fallback();
      outside.push(target.href);
      return route.abort();
    });
    const page = await ctx.newPage();
    const seen: string[] = [];
    problems.set(page, seen);
    page.on('pageerror', (err) => seen.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/the server responded with a status of/.test(msg.text()))
        seen.push(msg.text());
    });
    await page.goto(`${url}/`);
    await page.waitForSelector('#served.ready, #served.not-ready');
    return page;
  }

  /** Routes the page's POSTs to the API through `handle`. */
  const onPost = (page: Page, handle: (route: Route) => Promise<void>) =>
    page.route(
      (url) => url.pathname === '/image/detect',
      (route) => (route.request().method() === 'POST' ? handle(route) : route.fallback()),
    );

  /** Waits for the task shown to be completed and drawn; its id. */
  async function drawnTask(page: Page): Promise<string> {
    await page.waitForSelector('#steps[data-status="completed"]', { timeout: 20_000 });
    await page.waitForSelector('#overlay:not([data-boxes=""])');
    return (await page.textContent('#task-id'))?.trim() ?? '';
  }

  const message = (page: Page) =>
    page.waitForSelector('#message:not([hidden])').then(async () => ({
      text: (await page.textContent('#message-text')) ?? '',
      detail: (await page.textContent('#message-detail')) ?? '',
    }));

  it('when an image is picked, then the task is followed to completed and its boxes are drawn, as many as the API has', async () => {
    const page = await openPage(gw.url);
    expect(await page.textContent('#served')).toContain('serving fake v1 · openvino · bf16');
    await page.fill('#conf', '0.4');
    await page.fill('#max-det', '50');
    const before = gw.inference.submissions.length;
    await page.setInputFiles('#file', SHAPE_PNG);
    const taskId = await drawnTask(page);

    const api = await checked(request(gw.url).get(`/image/detect?task_id=${taskId}`));
    expect(api.body.status).toBe('completed');
    const instances = api.body.response.instances as unknown[];
    expect(instances).toHaveLength(3);
    expect(Number(await page.getAttribute('#overlay', 'data-boxes'))).toBe(instances.length);
    expect(await page.locator('#detections tbody tr').count()).toBe(instances.length);
    expect(await page.textContent('#detections')).toMatch(/square \(1\).*0\.910.*circle \(0\).*0\.620/s);
    expect(await page.textContent('#model')).toBe('fake-detector v1');
    expect(await page.textContent('#backend')).toBe('openvino · bf16');
    expect(await page.textContent('#inference-ms')).toBe('12.3 ms');
    expect(await page.textContent('#image-size')).toBe('64 × 48 px');
    expect(await page.getAttribute('#steps li[data-step="processing"]', 'class')).toBe('done');
    expect(await page.isHidden('#message')).toBe(true);
    expect(gw.inference.submissions.slice(before).map((s) => s.params)).toEqual([
      { conf: 0.4, iou: 0.45, max_det: 50 },
    ]);

    // The canvas holds the image with the boxes' colours on it: not blank, not the image alone.
    const pixels = await page.$eval('#overlay', (element) => {
      const canvas = element as unknown as Canvas;
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      const colours = new Set<string>();
      for (let i = 0; i < data.length; i += 4 * 7) colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
      return { width: canvas.width, colours: colours.size };
    });
    expect(pixels.width).toBeGreaterThan(64);
    expect(pixels.colours).toBeGreaterThan(20);

    await page.screenshot({ path: path.join(ARTIFACTS, 'web-page.png'), fullPage: true });

    // The recent list keeps it across a reload, and picking it shows the boxes again.
    const recent = page.locator(`#recent li[data-task-id="${taskId}"]`);
    expect(await recent.textContent()).toMatch(/shape\.png.*completed/);
    await page.reload();
    await page.click(`#recent li[data-task-id="${taskId}"] button`);
    expect(await drawnTask(page)).toBe(taskId);
    expect(Number(await page.getAttribute('#overlay', 'data-boxes'))).toBe(instances.length);
    expect(problems.get(page)).toEqual([]);
    await page.context().close();
  });

  it('when a file is too large or not an image, then the 413 and 415 messages say so', async () => {
    const page = await openPage(gw.url);
    const big = Buffer.concat([shapeImage('png'), Buffer.alloc(MAX_IMAGE_BYTES * 4)]);
    await page.setInputFiles('#file', { name: 'big.png', mimeType: 'image/png', buffer: big });
    const tooLarge = await message(page);
    expect(tooLarge.text).toMatch(/larger than this gateway accepts \(MAX_IMAGE_BYTES/);
    expect(tooLarge.detail).toMatch(/^HTTP 413 · image_too_large · /);

    await page.setInputFiles('#file', {
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('hi'),
    });
    await page.waitForSelector('#message-detail:has-text("HTTP 415")');
    expect((await message(page)).text).toMatch(/not a JPEG, PNG, WebP or BMP image/);
    // Nothing the browser could decode either: no stale picture, no task details.
    expect(await page.isHidden('#overlay')).toBe(true);
    expect(await page.isHidden('#meta')).toBe(true);
    expect(await page.locator('#recent li').count()).toBe(0);
    await page.context().close();
  });

  it.each([
    [422, 'image_too_many_pixels', /more pixels than this gateway accepts \(MAX_IMAGE_PIXELS\)/],
    [422, 'image_unreadable', /image is damaged/],
    [400, 'invalid_request', /^The gateway refused the request: from the test\.$/],
    [503, 'storage_unavailable', /cannot reach its storage \(MinIO\), so nothing was stored/],
    [500, 'internal', /failed unexpectedly/],
    [502, '', /proxy in front of the gateway got no valid answer/],
  ])('when the API answers %i %s, then the page explains it', async (status, code, text) => {
    const page = await openPage(gw.url);
    await onPost(page, (route) =>
      route.fulfill({
        status,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code, message: 'from the test' } }),
      }),
    );
    await page.setInputFiles('#file', SHAPE_PNG);
    const shown = await message(page);
    expect(shown.text).toMatch(text);
    expect(shown.detail).toContain(`HTTP ${status}`);
    await page.context().close();
  });

  it("when the gateway refuses a parameter the page's ranges allow, then the page shows the gateway's reason", async () => {
    const page = await openPage(gw.url);
    // A page of another version, whose ranges the gateway does not share: conf above the contract's.
    const above = DETECTION_DEFAULTS.conf.maximum + 0.5;
    await page.$eval('#conf', (input) => input.removeAttribute('max'));
    await page.fill('#conf', String(above));
    const before = gw.inference.submissions.length;
    await page.setInputFiles('#file', SHAPE_PNG);
    const shown = await message(page);
    expect(shown.text).toMatch(
      new RegExp(`^The gateway refused the request: .*conf.* <= ${DETECTION_DEFAULTS.conf.maximum}\\.$`),
    );
    expect(shown.detail).toMatch(/^HTTP 400 · invalid_request · /);
    expect(gw.inference.submissions.length).toBe(before);
    expect(problems.get(page)).toEqual([]);
    await page.context().close();
  });

  it('when the queue is full, then the page says so, waits Retry-After and submits again with the same key', async () => {
    const page = await openPage(gw.url);
    const keys: string[] = [];
    let refused = 0;
    await onPost(page, async (route) => {
      keys.push((await route.request().headerValue('idempotency-key')) ?? '');
      if (refused++ > 0) return route.fallback();
      return route.fulfill({
        status: 429,
        headers: { 'Retry-After': '1' },
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'queue_full', message: '1000 tasks are waiting' } }),
      });
    });
    await page.setInputFiles('#file', SHAPE_PNG);
    const notice = await message(page);
    expect(notice.text).toMatch(/gateway is busy.*Retrying in 1 s/);
    expect(await page.getAttribute('#message', 'data-kind')).toBe('notice');
    await drawnTask(page);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^page-[0-9a-f]{32}$/);
    expect(keys[1]).toBe(keys[0]);
    await page.context().close();
  });

  it('when the gateway has API_KEY, then without the key the 401 message asks for it, and with it the task runs', async () => {
    // Buckets of its own, so that its reconciler and the other gateway's never take each other's tasks.
    const keyed = await startGateway(
      testConfig(stack, { API_KEY: KEY, IMAGES_BUCKET: 'web-keyed-images', TASKS_BUCKET: 'web-keyed-tasks' }),
      { reconcile: true },
    );
    try {
      const page = await openPage(keyed.url);
      await page.setInputFiles('#file', SHAPE_PNG);
      const noKey = await message(page);
      expect(noKey.text).toMatch(/needs an API key: enter it in the “API key” field/);
      expect(noKey.detail).toMatch(/^HTTP 401 · unauthorized/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-page-401.png') });

      await page.fill('#api-key', 'not-the-key');
      await page.click('#submit');
      await page.waitForSelector('#message-text:has-text("The API key is wrong")');

      await page.fill('#api-key', KEY);
      await page.click('#submit');
      const taskId = await drawnTask(page);
      const api = await checked(
        request(keyed.url).get(`/image/detect?task_id=${taskId}`).set('X-API-Key', KEY),
      );
      expect(Number(await page.getAttribute('#overlay', 'data-boxes'))).toBe(
        api.body.response.instances.length,
      );

      // Kept for the tab's session (a reload keeps it), not for a new session.
      await page.reload();
      expect(await page.inputValue('#api-key')).toBe(KEY);
      const other = await openPage(keyed.url);
      expect(await other.inputValue('#api-key')).toBe('');
      await other.context().close();
      await page.context().close();
    } finally {
      await keyed.close();
    }
  });
  it('when a copy of the page is served from another origin, then with CORS_ORIGINS and data-api-base it works there', async () => {
    let gatewayUrl = '';
    const files = http.createServer((req, res) => {
      const name = req.url === '/' ? 'index.html' : path.basename(req.url ?? '');
      const file = path.join(publicDir, name);
      if (!fs.existsSync(file)) return res.writeHead(404).end();
      const types: Record<string, string> = {
        '.html': 'text/html',
        '.js': 'text/javascript',
        '.css': 'text/css',
      };
      // The copy of index.html is the page as the gateway serves it (parameters filled in).
      const body =
        name === 'index.html'
          ? detectionPage(publicDir).replace('data-api-base=""', `data-api-base="${gatewayUrl}"`)
          : fs.readFileSync(file, 'utf8');
      res
        .writeHead(200, { 'Content-Type': types[path.extname(name)] ?? 'application/octet-stream' })
        .end(body);
    });
    files.listen(0, '127.0.0.1');
    await new Promise((resolve) => files.once('listening', resolve));
    const pageOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    const remote = await startGateway(
      testConfig(stack, {
        API_KEY: KEY,
        CORS_ORIGINS: pageOrigin,
        IMAGES_BUCKET: 'web-cors-images',
        TASKS_BUCKET: 'web-cors-tasks',
      }),
      { reconcile: true },
    );
    gatewayUrl = remote.url;
    try {
      const page = await openPage(pageOrigin);
      expect(await page.textContent('#served')).toContain('serving fake v1');
      await page.fill('#api-key', KEY);
      await page.setInputFiles('#file', SHAPE_PNG);
      const taskId = await drawnTask(page);
      expect(remote.inference.submissions).toHaveLength(1);
      const api = await checked(
        request(remote.url).get(`/image/detect?task_id=${taskId}`).set('X-API-Key', KEY),
      );
      expect(Number(await page.getAttribute('#overlay', 'data-boxes'))).toBe(
        api.body.response.instances.length,
      );
      expect(problems.get(page)).toEqual([]);
      await page.context().close();
    } finally {
      await remote.close();
      files.closeAllConnections();
      await new Promise((resolve) => files.close(resolve));
    }
  });
});

// Where there is no browser, the report names the reason instead of the browser tests.
if (missing)
  describe('the page in Chromium', () => {
    it.skip(`is skipped: ${missing}`, () => {});
  });
