// Runs one training for a command: events rendered (or passed through as JSON lines), Ctrl-C
// forwarded once to the trainer, and the outcome turned into a result or a clear error.

import { UserError } from '../command.js';
import type { CliConfig } from '../config.js';
import { TRAINER_EXIT_CODES } from '../contracts.js';
import { renderEvent } from './render.js';
import {
  type TrainerEvent,
  type TrainerOutcome,
  TrainerProcess,
  type TrainOptions,
} from './trainer-process.js';

export interface RunOutput {
  /** Where readable progress goes (stdout of the command). */
  log: (line: string) => void;
  /** Where notices about stopping go (stderr). */
  warn: (line: string) => void;
  /** Print each event as a JSON line instead of readable progress. */
  json: boolean;
  /** Echo the trainer's own log (Ultralytics' output) on stderr. */
  verbose: boolean;
}

/** The trainer's status when stopped (contracts/trainer-exit-codes.schema.json); `train` exits with it too. */
export const EXIT_KILLED = TRAINER_EXIT_CODES.killed;

export class TrainingFailed extends UserError {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly outcome: TrainerOutcome,
  ) {
    super(message);
  }
}

export async function runTraining(
  options: TrainOptions,
  config: CliConfig,
  out: RunOutput,
): Promise<TrainerEvent> {
  const onEvent = (event: TrainerEvent) => {
    if (out.json) out.log(JSON.stringify(event));
    else {
      const line = renderEvent(event);
      if (line) out.log(line);
    }
  };
  if (!out.json) out.log(`Starting the trainer (dataset ${options.dataset}, model ${options.model})…`);
  const trainer = new TrainerProcess(options, config, onEvent, out.verbose ? process.stderr : undefined);
  const onSignal = () => {
    if (trainer.interrupt())
      out.warn('Stopping: logging what was produced and marking the MLflow run KILLED…');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let outcome: TrainerOutcome;
  try {
    outcome = await trainer.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const last = outcome.last;
  if (outcome.exitCode === 0 && last?.event === 'finished') return last;
  if (last?.event === 'killed') {
    throw new TrainingFailed(`training stopped; run ${last.run_id} marked KILLED`, EXIT_KILLED, outcome);
  }
  const error =
    last?.event === 'failed'
      ? String(last.error)
      : `the trainer exited with ${outcome.exitCode ?? outcome.signal}`;
  const run = last?.run_id ? ` (run ${last.run_id} marked FAILED)` : '';
  // A crash without a failure event is unexplained: the end of the log goes with it.
  const tail =
    last?.event === 'failed'
      ? ''
      : outcome.logTail
          .slice(-15)
          .map((line) => `  | ${line}`)
          .join('\n');
  throw new TrainingFailed(
    `training failed${run}: ${error}\nlog: ${trainer.logFile}${tail ? `\n${tail}` : ''}`,
    outcome.exitCode && outcome.exitCode > 0 ? outcome.exitCode : TRAINER_EXIT_CODES.failed,
    outcome,
  );
}
