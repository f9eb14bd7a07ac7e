// Composition root: read config, wire adapters into the app, listen, stop cleanly.
import { ConfigError, loadConfig } from './config.js';
import { createApp } from './http/app.js';
import { BentoMLClient } from './inference/bentoml-client.js';
import { MinioStore, minioClient } from './storage/minio-store.js';

function main(): void {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`gateway: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const app = createApp({
    store: new MinioStore(minioClient(config)),
    inference: new BentoMLClient(config.BENTOML_URL),
  });
  const server = app.listen(config.GATEWAY_PORT, config.BIND_HOST, () => {
    console.log(`gateway listening on http://${config.BIND_HOST}:${config.GATEWAY_PORT}`);
  });
  server.on('error', (err: NodeJS.ErrnoException) => {
    console.error(
      err.code === 'EADDRINUSE'
        ? `gateway: GATEWAY_PORT=${config.GATEWAY_PORT} is already in use`
        : `gateway: ${err.message}`,
    );
    process.exit(1);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
