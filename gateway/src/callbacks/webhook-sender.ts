// Webhook adapter: POSTs a finished task to its callback_url, signed, to an address the URL
// policy checked (the connection's own name lookup is replaced by that answer, so a name that
// changes between the check and the connection cannot redirect it).
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { CallbackFailedError, CallbackRefusedError, type CallbackSender } from './callback-sender.js';
import type { ResolvedAddress, UrlPolicy } from './url-policy.js';

export class WebhookSender implements CallbackSender {
  constructor(
    private readonly policy: UrlPolicy,
    /** HMAC key of the X-Signature header; without it no webhook is accepted. */
    private readonly secret: string | undefined,
    private readonly timeoutMs = 10_000,
  ) {}

  async check(url: string): Promise<void> {
    if (!this.secret)
      throw new CallbackRefusedError('this gateway sends no webhooks: CALLBACK_SECRET is not set');
    await this.policy.resolve(this.policy.parse(url));
  }

  async send(url: string, body: string): Promise<void> {
    if (!this.secret) throw new CallbackRefusedError('CALLBACK_SECRET is not set');
    const target = this.policy.parse(url);
    const [address] = await this.policy.resolve(target);
    const signature = createHmac('sha256', this.secret).update(body).digest('hex');
    const status = await this.post(target, address as ResolvedAddress, body, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-signature': `sha256=${signature}`,
      'user-agent': 'mini-streamio-gateway',
    });
    if (status < 200 || status >= 300) throw new CallbackFailedError(`the receiver answered ${status}`);
  }

  private post(
    url: URL,
    to: ResolvedAddress,
    body: string,
    headers: Record<string, string>,
  ): Promise<number> {
    const lookup: LookupFunction = (_host, options, callback) => {
      if (options.all) callback(null, [to]);
      else callback(null, to.address, to.family);
    };
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        { method: 'POST', headers, lookup, timeout: this.timeoutMs },
        (res) => {
          res.resume(); // the answer's body does not matter, only its status
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', (err) => reject(new CallbackFailedError(err.message)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) =>
        reject(new CallbackFailedError(`the receiver cannot be reached: ${err.message}`)),
      );
      req.end(body);
    });
  }
}
