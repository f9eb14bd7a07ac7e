// Readable lines for the trainer's events (the CLI prints them as training goes).
import { formatNumber } from '../format.js';
import type { TrainerEvent } from './trainer-process.js';

type Metrics = Record<string, number>;

export function renderEvent(event: TrainerEvent): string | null {
  switch (event.event) {
    case 'started':
      return `Run ${event.run_id} (${event.run_name}) in experiment ${event.experiment} on ${event.hardware}\n  ${event.url}`;
    case 'dataset': {
      const counts = Object.entries((event.counts as Record<string, number>) ?? {})
        .map(([split, n]) => `${split} ${n}`)
        .join(', ');
      const classes = (event.classes as string[]).join(', ');
      return `Dataset ${event.name}@${event.version}: ${counts || 'counts unknown'} images; classes ${classes}`;
    }
    case 'model':
      return `Model ${event.reference} (${event.kind}${event.parent_run_id ? `, parent run ${event.parent_run_id}` : ''})`;
    case 'epoch':
      return renderEpoch(event.epoch as number, event.epochs as number, event.metrics as Metrics);
    case 'finished': {
      const m = event.metrics as Metrics;
      const registered = event.registered_version
        ? `; registered ${event.registered_model} version ${event.registered_version} (${event.weights_uri})`
        : '';
      return `Finished: precision ${formatNumber(m.precision)} recall ${formatNumber(m.recall)} mAP50 ${formatNumber(m.mAP50)} mAP50-95 ${formatNumber(m['mAP50-95'])}${registered}`;
    }
    case 'killed':
      return `Stopped: run ${event.run_id} is KILLED; logged ${(event.artifacts as string[]).length} artifacts (${(event.artifacts as string[]).filter((a) => a.endsWith('.pt')).join(', ') || 'no weights yet'})`;
    case 'failed':
      return null; // the command reports the error itself
    default:
      return null;
  }
}

function renderEpoch(epoch: number, epochs: number, m: Metrics): string {
  const width = String(epochs).length;
  const loss = (prefix: string) =>
    `box ${formatNumber(m[`${prefix}/box_loss`])} cls ${formatNumber(m[`${prefix}/cls_loss`])} dfl ${formatNumber(m[`${prefix}/dfl_loss`])}`;
  return [
    `epoch ${String(epoch).padStart(width)}/${epochs}`,
    `train ${loss('train')}`,
    `val ${loss('val')}`,
    `P ${formatNumber(m['metrics/precision_B'])} R ${formatNumber(m['metrics/recall_B'])}`,
    `mAP50 ${formatNumber(m['metrics/mAP50_B'])} mAP50-95 ${formatNumber(m['metrics/mAP50-95_B'])}`,
    `${formatNumber(m['time/epoch_s'], 1)}s`,
  ].join(' │ ');
}
