// BentoML adapter of the InferenceClient port.
import axios, { type AxiosInstance } from 'axios';
import type { InferenceClient } from './inference-client.js';

export class BentoMLClient implements InferenceClient {
  private readonly http: AxiosInstance;

  constructor(baseURL: string, timeoutMs = 5_000) {
    this.http = axios.create({ baseURL, timeout: timeoutMs, validateStatus: () => true });
  }

  async isReady(): Promise<boolean> {
    try {
      return (await this.http.get('/readyz')).status === 200;
    } catch {
      return false;
    }
  }
}
