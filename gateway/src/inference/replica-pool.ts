// Several BentoML replicas behind one InferenceClient. BentoML keeps its tasks per server, so a
// task must be polled where it was submitted: the task id this returns names the replica
// (`<replica URL>#<BentoML task id>`), and the record keeps it. A submission goes to the live
// replica with the fewest tasks in flight from this process (a task stops being in flight when
// a poll finds it finished or its replica announces it). A task whose replica has left the
// set (removed from BENTOML_URLS or from DNS), or has been unreachable for a while while another
// answers, is reported `not_found`: the advancer then submits it again, to a live replica.
import type { DetectionParams } from '../detection/dto.js';
import {
  type ImageUpload,
  type InferenceClient,
  InferenceError,
  type InferenceTaskState,
  type OnFinished,
  type ServedModel,
  type Watch,
} from './inference-client.js';
import type { ReplicaSource } from './replica-source.js';

const SEPARATOR = '#';
/** How often the watched replicas are matched to the source's set (DNS re-resolves every 10 s). */
const FOLLOW_REPLICAS_MS = 5_000;

const load = (replica: Replica) => replica.sending + replica.inFlight.size;

const isUnavailable = (err: unknown): err is InferenceError =>
  err instanceof InferenceError && err.failure === 'unavailable';

interface Replica {
  url: string;
  client: InferenceClient;
  /** Submissions by this process being sent to it now. */
  sending: number;
  /** Its task ids submitted by this process and not yet seen finished. */
  inFlight: Set<string>;
  /** Since when it has not answered (undefined: it answers). */
  downSince?: number;
}

export interface ReplicaPoolOptions {
  /** How long a replica may be unreachable before its tasks go to another one. */
  lostAfterMs: number;
  clock?: () => number;
}

export class ReplicaPool implements InferenceClient {
  private readonly replicas = new Map<string, Replica>();
  private readonly clock: () => number;

  constructor(
    private readonly source: ReplicaSource,
    private readonly connect: (url: string) => InferenceClient,
    private readonly options: ReplicaPoolOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  async isReady(): Promise<boolean> {
    const answers = await Promise.all(this.current().map((r) => this.observe(r, r.client.isReady())));
    return answers.some((ready) => ready === true);
  }

  /** The model of the first live replica that reports one. */
  async servedModel(): Promise<ServedModel | null> {
    for (const replica of this.byPreference()) {
      const model = await replica.client.servedModel();
      if (model) return model;
    }
    return null;
  }

  async submit(image: ImageUpload, params: DetectionParams): Promise<string> {
    let unreachable: InferenceError | undefined;
    for (const replica of this.byPreference()) {
      // Counted from the start, so submissions made at the same time spread too.
      replica.sending += 1;
      try {
        const id = await replica.client.submit(image, params);
        replica.inFlight.add(id);
        replica.downSince = undefined;
        return `${replica.url}${SEPARATOR}${id}`;
      } catch (err) {
        // Unreachable or not ready: the next replica may take it. Anything else (a refusal, a
        // timeout after which it may have been accepted) is the caller's, as with one replica.
        if (!isUnavailable(err)) throw err;
        replica.downSince ??= this.clock();
        unreachable = err;
      } finally {
        replica.sending -= 1;
      }
    }
    throw unreachable ?? new InferenceError('unavailable', 'no BentoML replica is known right now');
  }

  async check(inferenceTaskId: string): Promise<InferenceTaskState> {
    const { url, id } = this.parse(inferenceTaskId);
    const replica = this.current().find((r) => r.url === url);
    if (!replica) return { status: 'not_found' }; // it left the set: its tasks are gone with it
    try {
      const state = await replica.client.check(id);
      replica.downSince = undefined;
      if (state.status !== 'in_progress') replica.inFlight.delete(id);
      return state;
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      replica.downSince ??= this.clock();
      if (!this.isLost(replica)) throw err;
      replica.inFlight.delete(id);
      return { status: 'not_found' };
    }
  }

  /** Watches every replica the source names, following the set as it changes. */
  watchFinished(onFinished: OnFinished): Watch {
    const watches = new Map<string, Watch>();
    const follow = () => {
      const replicas = this.current();
      for (const [url, watch] of watches)
        if (!replicas.some((r) => r.url === url)) {
          watch.stop();
          watches.delete(url);
        }
      for (const { url, client } of replicas)
        if (!watches.has(url))
          watches.set(
            url,
            client.watchFinished((ids, outcomes) => {
              const inFlight = this.replicas.get(url)?.inFlight;
              for (const id of ids) inFlight?.delete(id);
              const named = (id: string) => `${url}${SEPARATOR}${id}`;
              onFinished(ids.map(named), new Map([...outcomes].map(([id, outcome]) => [named(id), outcome])));
            }),
          );
    };
    follow();
    const timer = setInterval(follow, FOLLOW_REPLICAS_MS).unref();
    return {
      // Every replica's: a task is announced by the replica that ran it.
      live: () => watches.size > 0 && [...watches.values()].every((watch) => watch.live()),
      stop: () => {
        clearInterval(timer);
        for (const watch of watches.values()) watch.stop();
      },
    };
  }

  /** Tasks submitted here per replica and not yet seen finished (for logs and tests). */
  inFlight(): Record<string, number> {
    return Object.fromEntries(this.current().map((r) => [r.url, load(r)]));
  }

  /** Down long enough while another replica answers: its tasks are better run elsewhere. */
  private isLost(replica: Replica): boolean {
    const down =
      replica.downSince !== undefined && this.clock() - replica.downSince >= this.options.lostAfterMs;
    return down && this.current().some((r) => r !== replica && r.downSince === undefined);
  }

  /** Replicas that answer first, fewest tasks in flight first; then those that did not answer. */
  private byPreference(): Replica[] {
    return this.current().sort(
      (a, b) => Number(a.downSince !== undefined) - Number(b.downSince !== undefined) || load(a) - load(b),
    );
  }

  /** The replicas the source names now (kept across calls, so their counts are too). */
  private current(): Replica[] {
    const urls = this.source.urls();
    for (const url of this.replicas.keys()) if (!urls.includes(url)) this.replicas.delete(url);
    return urls.map((url) => {
      let replica = this.replicas.get(url);
      if (!replica) {
        replica = { url, client: this.connect(url), sending: 0, inFlight: new Set() };
        this.replicas.set(url, replica);
      }
      return replica;
    });
  }

  /** A replica's answer to a probe, which also tells whether it is up. */
  private async observe<T>(replica: Replica, answer: Promise<T>): Promise<T | undefined> {
    const value = await answer.catch(() => undefined);
    if (value === true) replica.downSince = undefined;
    else replica.downSince ??= this.clock();
    return value;
  }

  /** Ids from before replicas (no replica named) belong to the first configured one. */
  private parse(inferenceTaskId: string): { url: string | undefined; id: string } {
    const at = inferenceTaskId.lastIndexOf(SEPARATOR);
    if (at < 0) return { url: this.source.urls()[0], id: inferenceTaskId };
    return { url: inferenceTaskId.slice(0, at), id: inferenceTaskId.slice(at + 1) };
  }
}
