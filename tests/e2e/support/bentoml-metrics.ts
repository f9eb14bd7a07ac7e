// BentoML's own count of the requests it answered, by endpoint (its Prometheus /metrics).

/** Requests to `endpoint` that BentoML at `url` answered with 200 since it started. */
export async function answeredRequests(url: string, endpoint: string): Promise<number> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const line = metrics
    .split('\n')
    .find(
      (l) =>
        l.startsWith('bentoml_service_request_total{') &&
        l.includes(`endpoint="${endpoint}"`) &&
        l.includes('http_response_code="200"'),
    );
  return Number(line?.split(' ').at(-1) ?? 0);
}
