// What a task stored, read from the versions of its record in a versioned MinIO tasks bucket (the
// e2e tests turn versioning on and keep the records in MinIO: TASK_DB empty): each completed
// version is one result the task stored, so "completed once" is exactly one.
import type { Client } from 'minio';

/** The completed versions of a task's record, oldest first as MinIO lists them. */
export async function completedRecords(storage: Client, taskId: string): Promise<Record<string, unknown>[]> {
  const key = `records/${taskId}.json`;
  const completed: Record<string, unknown>[] = [];
  for await (const v of storage.listObjects('tasks', key, true, { IncludeVersion: true })) {
    if (v.name !== key || !v.versionId) continue;
    const stream = await storage.getObject('tasks', key, { versionId: v.versionId });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const record = JSON.parse(Buffer.concat(chunks).toString());
    if (record.status === 'completed') completed.push(record);
  }
  return completed;
}
