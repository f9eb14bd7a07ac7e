// The gateway process: read config, build the gateway (compose.ts), listen, stop cleanly.
import { composeGatewayProcess } from './compose.js';
import { type Config, ConfigError, loadConfig } from './config.js';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`gateway: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

function main(): void {
  const config = readConfig();
  const { app, reconciler, detection, logger } = composeGatewayProcess(config);
  const server = app.listen(config.GATEWAY_PORT, config.BIND_HOST, () => {
    logger.info(`gateway listening on http://${config.BIND_HOST}:${config.GATEWAY_PORT}`);
    reconciler.start();
  });
  server.on('error', (err: NodeJS.ErrnoException) => {
    console.error(
      err.code === 'EADDRINUSE'
        ? `gateway: GATEWAY_PORT=${config.GATEWAY_PORT} is already in use`
        : `gateway: ${err.message}`,
    );
    process.exit(1);
  });
  const stop = async () => {
    // Long-polling GETs answer now with what they have, rather than hold the close open.
    detection.waiters.close();
    await reconciler.stop();
    server.close(() => process.exit(0));
    // Keep-alive connections may hold close() open; do not outlive the supervisor's grace period.
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main();
