// A small client of MLflow's REST API (tracking and model registry): what the CLI commands and
// the end-to-end tests read back. Docs: https://mlflow.org/docs/latest/rest-api.html

export class MlflowError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  run_id?: string;
  description?: string;
  status?: string;
  aliases?: string[];
  tags?: { key: string; value: string }[];
}

export interface RegisteredModel {
  name: string;
  description?: string;
  aliases?: { alias: string; version: string }[];
}

export interface Run {
  info: {
    run_id: string;
    run_name?: string;
    experiment_id: string;
    status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
    start_time: number;
    end_time?: number;
    artifact_uri: string;
  };
  data: {
    metrics?: { key: string; value: number; step: number }[];
    params?: { key: string; value: string }[];
    tags?: { key: string; value: string }[];
  };
}

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

export interface ArtifactFile {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export function tagsOf(entity: { tags?: { key: string; value: string }[] }): Record<string, string> {
  return Object.fromEntries((entity.tags ?? []).map((tag) => [tag.key, tag.value]));
}

export class MlflowClient {
  private readonly base: string;

  constructor(trackingUri: string) {
    this.base = trackingUri.replace(/\/+$/, '');
  }

  runUrl(run: Run): string {
    return `${this.base}/#/experiments/${run.info.experiment_id}/runs/${run.info.run_id}`;
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel | null> {
    return this.orNull(async () => {
      const body = await this.call<{ registered_model: RegisteredModel }>('GET', 'registered-models/get', {
        name,
      });
      return body.registered_model;
    });
  }

  async searchModelVersions(name: string): Promise<ModelVersion[]> {
    const versions: ModelVersion[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = {
        filter: `name='${name.replace(/'/g, "\\'")}'`,
        max_results: '200',
      };
      if (pageToken) query.page_token = pageToken;
      const body = await this.call<{ model_versions?: ModelVersion[]; next_page_token?: string }>(
        'GET',
        'model-versions/search',
        query,
      );
      versions.push(...(body.model_versions ?? []));
      pageToken = body.next_page_token;
    } while (pageToken);
    return versions.sort((a, b) => Number(b.version) - Number(a.version));
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion | null> {
    return this.orNull(async () => {
      const body = await this.call<{ model_version: ModelVersion }>('GET', 'model-versions/get', {
        name,
        version,
      });
      return body.model_version;
    });
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | null> {
    try {
      const body = await this.call<{ model_version: ModelVersion }>('GET', 'registered-models/alias', {
        name,
        alias,
      });
      return body.model_version;
    } catch (err) {
      // An unknown model is RESOURCE_DOES_NOT_EXIST, an unknown alias INVALID_PARAMETER_VALUE (400).
      if (err instanceof MlflowError && /not found/i.test(err.message)) return null;
      throw err;
    }
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', 'registered-models/alias', { name, alias, version });
  }

  async getRun(runId: string): Promise<Run> {
    const body = await this.call<{ run: Run }>('GET', 'runs/get', { run_id: runId });
    return body.run;
  }

  async searchRuns(experimentIds: string[], filter = ''): Promise<Run[]> {
    const body = await this.call<{ runs?: Run[] }>('POST', 'runs/search', {
      experiment_ids: experimentIds,
      filter,
      max_results: 1000,
    });
    return body.runs ?? [];
  }

  async getExperimentId(name: string): Promise<string | null> {
    return this.orNull(async () => {
      const body = await this.call<{ experiment: { experiment_id: string } }>(
        'GET',
        'experiments/get-by-name',
        {
          experiment_name: name,
        },
      );
      return body.experiment.experiment_id;
    });
  }

  async metricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const body = await this.call<{ metrics?: MetricPoint[] }>('GET', 'metrics/get-history', {
      run_id: runId,
      metric_key: key,
    });
    return (body.metrics ?? []).sort((a, b) => a.step - b.step);
  }

  /** Every artifact file of a run, recursively (`weights/best.pt`, `results.csv`, …). */
  async listArtifacts(runId: string, path?: string): Promise<ArtifactFile[]> {
    const query: Record<string, string> = { run_id: runId };
    if (path) query.path = path;
    const body = await this.call<{ files?: ArtifactFile[] }>('GET', 'artifacts/list', query);
    const files: ArtifactFile[] = [];
    for (const file of body.files ?? []) {
      if (file.is_dir) files.push(...(await this.listArtifacts(runId, file.path)));
      else files.push(file);
    }
    return files;
  }

  private async orNull<T>(request: () => Promise<T>): Promise<T | null> {
    try {
      return await request();
    } catch (err) {
      if (err instanceof MlflowError && err.code === 'RESOURCE_DOES_NOT_EXIST') return null;
      throw err;
    }
  }

  /**
   * Sends one request, retried once when a kept-alive connection turns out to be closed: MLflow's
   * server (uvicorn) drops idle connections after a few seconds, and all calls here are idempotent.
   */
  private async send(url: string, init: RequestInit): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        if (attempt < 2 && (cause === 'UND_ERR_SOCKET' || cause === 'ECONNRESET')) continue;
        throw new MlflowError(
          `cannot reach MLflow at ${this.base} (${cause}); is the stack running? (npm run up)`,
          0,
          'UNAVAILABLE',
        );
      }
    }
  }

  private async call<T>(
    method: 'GET' | 'POST',
    endpoint: string,
    params: Record<string, unknown>,
  ): Promise<T> {
    let url = `${this.base}/api/2.0/mlflow/${endpoint}`;
    const init: RequestInit = { method, headers: { 'Content-Type': 'application/json' } };
    if (method === 'GET') url += `?${new URLSearchParams(params as Record<string, string>)}`;
    else init.body = JSON.stringify(params);
    const response = await this.send(url, init);
    const text = await response.text();
    const body = parseJson(text);
    if (!response.ok) {
      const code = String(body.error_code ?? response.status);
      throw new MlflowError(`MLflow ${endpoint}: ${String(body.message ?? text)}`, response.status, code);
    }
    return body as T;
  }
}

function parseJson(text: string): Record<string, unknown> {
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return { message: text.slice(0, 500) };
  }
}
