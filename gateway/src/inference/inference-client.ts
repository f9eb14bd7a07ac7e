// The inference port: what the gateway needs from the model server.
export interface InferenceClient {
  /** True when the model server reports it can take work (a model is loaded). */
  isReady(): Promise<boolean>;
}
