// The replica pool over fake replicas: where submissions go, where polls go, and when a task is
// given up on its replica (reported not_found, so the advancer submits it again elsewhere).
import { describe, expect, it, vi } from 'vitest';
import { InferenceError } from '../src/inference/inference-client.js';
import { ReplicaPool } from '../src/inference/replica-pool.js';
import { DnsReplicas, fixedReplicas, type ReplicaSource } from '../src/inference/replica-source.js';
import { FAKE_MODEL, FakeInference } from './support/fake-inference.js';
import { shapeImage } from './support/images.js';

const A = 'http://10.0.0.1:3000';
const B = 'http://10.0.0.2:3000';
const image = { bytes: shapeImage('png'), contentType: 'image/png' };
const params = { conf: 0.25, iou: 0.45, max_det: 300 };

/** A pool over one fake per URL, a clock the test moves, and a replica set it can change. */
function pool(urls: string[], lostAfterMs = 10_000) {
  const fakes = new Map(urls.map((url) => [url, new FakeInference()]));
  let now = 0;
  let current = urls;
  const source: ReplicaSource = { urls: () => current, stop: () => {} };
  const replicas = new ReplicaPool(
    source,
    (url) => {
      const fake = fakes.get(url) ?? new FakeInference();
      fakes.set(url, fake);
      return fake;
    },
    { lostAfterMs, clock: () => now },
  );
  return {
    replicas,
    fake: (url: string) => fakes.get(url) as FakeInference,
    advance: (ms: number) => {
      now += ms;
    },
    setUrls: (urls: string[]) => {
      current = urls;
    },
  };
}

describe('submissions', () => {
  it('when tasks are submitted, then each goes to the replica with the fewest in flight, and its id names it', async () => {
    const { replicas, fake } = pool([A, B]);
    const ids = await Promise.all([1, 2, 3, 4].map(() => replicas.submit(image, params)));
    expect(ids.filter((id) => id.startsWith(`${A}#`))).toHaveLength(2);
    expect(ids.filter((id) => id.startsWith(`${B}#`))).toHaveLength(2);
    expect(fake(A).submissions).toHaveLength(2);
    expect(replicas.inFlight()).toEqual({ [A]: 2, [B]: 2 });
  });

  it('when a replica is unreachable, then the submission goes to another; with none, it is a 503', async () => {
    const { replicas, fake } = pool([A, B]);
    fake(A).down = true;
    expect(await replicas.submit(image, params)).toMatch(new RegExp(`^${B}#`));
    fake(B).down = true;
    await expect(replicas.submit(image, params)).rejects.toMatchObject({ failure: 'unavailable' });
  });

  it('when a replica refuses the image, then that is the answer (not tried elsewhere)', async () => {
    const { replicas, fake } = pool([A, B]);
    fake(A).rejecting = true;
    fake(B).rejecting = true;
    await expect(replicas.submit(image, params)).rejects.toThrow(/refuses/);
    expect(fake(A).submissions.length + fake(B).submissions.length).toBe(0);
  });
});

describe('polls', () => {
  it('when a task is polled, then the replica that took it answers, and it leaves the in-flight count', async () => {
    const { replicas, fake } = pool([A, B]);
    const onA = await replicas.submit(image, params);
    const onB = await replicas.submit(image, params);
    fake(B).behaviour = 'hold';
    expect((await replicas.check(onA)).status).toBe('completed');
    expect((await replicas.check(onB)).status).toBe('in_progress');
    expect(replicas.inFlight()).toEqual({ [A]: 0, [B]: 1 });
  });

  it('when its replica is unreachable, then polls fail (try later) until lostAfterMs, then the task is not_found', async () => {
    const { replicas, fake, advance } = pool([A, B], 10_000);
    const onA = await replicas.submit(image, params);
    fake(A).down = true;
    await expect(replicas.check(onA)).rejects.toBeInstanceOf(InferenceError);
    advance(9_000);
    await expect(replicas.check(onA)).rejects.toBeInstanceOf(InferenceError);
    advance(1_000);
    expect(await replicas.check(onA)).toEqual({ status: 'not_found' });
  });

  it('when the only replica is unreachable, however long, then its tasks wait for it', async () => {
    const { replicas, fake, advance } = pool([A], 10_000);
    const id = await replicas.submit(image, params);
    fake(A).down = true;
    await expect(replicas.check(id)).rejects.toBeInstanceOf(InferenceError);
    advance(60_000);
    await expect(replicas.check(id)).rejects.toBeInstanceOf(InferenceError);
  });

  it('when a replica leaves the set, then its tasks are not_found and new tasks go to the others', async () => {
    const { replicas, setUrls } = pool([A, B]);
    const ids = [await replicas.submit(image, params), await replicas.submit(image, params)];
    const onB = ids.find((id) => id.startsWith(B)) as string;
    setUrls([A]);
    expect(await replicas.check(onB)).toEqual({ status: 'not_found' });
    expect(await replicas.submit(image, params)).toMatch(new RegExp(`^${A}#`));
  });

  it('when an id names no replica (a record from before replicas), then the first replica is asked', async () => {
    const { replicas, fake } = pool([A, B]);
    const plain = await fake(A).submit(image, params);
    expect((await replicas.check(plain)).status).toBe('completed');
  });
});

describe('readiness', () => {
  it('when any replica is ready, then the pool is, and reports that replica’s model', async () => {
    const { replicas, fake } = pool([A, B]);
    fake(A).down = true;
    expect(await replicas.isReady()).toBe(true);
    expect(await replicas.servedModel()).toEqual(FAKE_MODEL);
    fake(B).modelLoaded = false;
    expect(await replicas.isReady()).toBe(false);
    expect(await replicas.servedModel()).toBeNull();
  });
});

describe('where replicas are found', () => {
  it('when given as a list, then they are used as given, without trailing slashes', () => {
    expect(fixedReplicas([`${A}/`, B]).urls()).toEqual([A, B]);
  });

  it('when found by DNS, then every address is a replica (IPv6 in brackets), and a failed lookup keeps the last', async () => {
    let answer: string[] | Error = ['10.0.0.2', '10.0.0.1', 'fd00::7', '10.0.0.1'];
    const errors: Error[] = [];
    const lookup = async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    };
    const dns = new DnsReplicas(
      { host: 'bento-headless', port: 3000 },
      { intervalMs: 60_000, lookup, onError: (e) => errors.push(e) },
    );
    await dns.resolved;
    expect(dns.urls()).toEqual([A, B, 'http://[fd00::7]:3000']);
    answer = new Error('ENOTFOUND bento-headless');
    await (dns as unknown as { resolve(): Promise<void> }).resolve();
    expect(dns.urls()).toHaveLength(3);
    expect(errors.map((e) => e.message)).toEqual(['ENOTFOUND bento-headless']);
    dns.stop();
  });
});

describe('announcements of finished tasks', () => {
  it('when replicas announce finishes, then they are reported by the ids submit gave, and the watches follow the set', () => {
    vi.useFakeTimers();
    try {
      const { replicas, fake, setUrls } = pool([A, B]);
      const reported: string[][] = [];
      const watch = replicas.watchFinished((ids) => {
        reported.push(ids);
      });
      fake(A).announce('fake-1');
      fake(B).announce('fake-2', 'fake-3');
      expect(reported).toEqual([[`${A}#fake-1`], [`${B}#fake-2`, `${B}#fake-3`]]);
      expect(watch.live()).toBe(false);
      fake(A).announcing = true;
      expect(watch.live()).toBe(false); // B does not announce yet
      fake(B).announcing = true;
      expect(watch.live()).toBe(true);
      setUrls([A]);
      vi.advanceTimersByTime(5_000);
      expect([fake(A).watching, fake(B).watching]).toEqual([1, 0]);
      watch.stop();
      expect(fake(A).watching).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('when a replica announces tasks finished, then their outcomes come under the ids submit gave, and they stop counting in flight', async () => {
    const { replicas, fake } = pool([A, B]);
    const announced: Array<Record<string, unknown>> = [];
    const watch = replicas.watchFinished((_ids, outcomes) => {
      announced.push(Object.fromEntries(outcomes));
    });
    const [onA, onB] = await Promise.all([1, 2].map(() => replicas.submit(image, params)));
    expect(replicas.inFlight()).toEqual({ [A]: 1, [B]: 1 });
    const [first] = fake(A).submissions;
    fake(A).announce(first?.inferenceTaskId ?? '');
    expect(announced).toEqual([{ [onA ?? '']: expect.objectContaining({ error: null }) }]);
    // Announced finished: A has none in flight now, so the next submission goes there again.
    expect(replicas.inFlight()).toEqual({ [A]: 0, [B]: 1 });
    expect(await replicas.submit(image, params)).toMatch(new RegExp(`^${A}#`));
    expect(onB).toMatch(new RegExp(`^${B}#`));
    watch.stop();
  });
});
