// GETs that long-poll (`wait=`) sleep here until this process learns that their task finished
// (the reconciler, or another GET, finished it), until their time is up, or until the client
// leaves: no timer per request beyond its own, no polling loop of its own.
export class TaskWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;

  /** Resolves once `taskId` is reported finished, after `ms`, or when `signal` aborts. */
  wait(taskId: string, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        const set = this.waiting.get(taskId);
        set?.delete(wake);
        if (set?.size === 0) this.waiting.delete(taskId);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal?.addEventListener('abort', wake, { once: true });
      const set = this.waiting.get(taskId) ?? new Set();
      set.add(wake);
      this.waiting.set(taskId, set);
    });
  }

  /** Wakes the GETs waiting for `taskId`. */
  finished(taskId: string): void {
    for (const wake of [...(this.waiting.get(taskId) ?? [])]) wake();
  }

  /** Wakes every waiting GET, and later ones do not wait (the process is stopping). */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiting.values()]) for (const wake of [...set]) wake();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** GETs waiting now (for tests and metrics). */
  get size(): number {
    let count = 0;
    for (const set of this.waiting.values()) count += set.size;
    return count;
  }
}
