// Prometheus metrics of one gateway app (its own registry, so two apps in one test process
// do not collide): request latency, queue depth, task outcomes and retries, process metrics.
import type { RequestHandler } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DetectionResponse, RetryReason, TaskRecord } from '../detection/dto.js';
import type { TaskEvents } from '../detection/task-advancer.js';

type ServedBy = DetectionResponse['model'];

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requestSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: 'detection_queue_depth',
    help: 'Detection tasks queued or processing (all gateways together), as last counted',
    registers: [this.registry],
  });
  private readonly outcomes = new Counter({
    name: 'detection_task_outcomes_total',
    help: 'Detection tasks finished by this gateway, by final status and error code',
    labelNames: ['status', 'code'] as const,
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'detection_task_retries_total',
    help: 'Detection attempts dropped and submitted again, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly model = new Gauge({
    name: 'detection_model_info',
    help: 'The model of the last detection this gateway finished (value 1): registry version, runtime, precision',
    labelNames: ['name', 'version', 'backend', 'precision'] as const,
    registers: [this.registry],
  });

  constructor() {
    // The event-loop delay (nodejs_eventloop_lag_*) is sampled every 50 ms, not prom-client's 10:
    // its timer is most of an idle gateway's CPU (docs/BENCHMARKS.md).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 50 });
  }

  /** Times every request; unknown paths share one label so a scan cannot blow up the series. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const stop = this.requestSeconds.startTimer({ method: req.method });
      res.on('finish', () => {
        const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
        stop({ route, status_code: String(res.statusCode) });
      });
      next();
    };
  }

  private modelServed({ name, version, backend = 'unknown', precision = 'unknown' }: ServedBy): void {
    this.model.reset(); // one series: the model now serving
    this.model.set({ name, version, backend, precision }, 1);
  }

  /** Hooks for the detection module. */
  taskEvents(): TaskEvents & { queueDepth(depth: number): void } {
    return {
      finished: (record: TaskRecord) => {
        this.outcomes.inc({ status: record.status, code: record.error?.code ?? '' });
        if (record.response) this.modelServed(record.response.model);
      },
      retried: (_record: TaskRecord, reason: RetryReason) => this.retries.inc({ reason }),
      queueDepth: (depth: number) => this.queueDepth.set(depth),
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
