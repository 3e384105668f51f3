// Runs one conformance scenario through npm @helicone/helpers' HeliconeManualLogger.
//
//   node npm_driver.mjs <logging-endpoint>
//
// Environment:
//   HELICONE_HELPERS_ENTRY  absolute path of @helicone/helpers/dist/index.mjs (it lives under
//                           .cache/npm, outside this directory's node_modules lookup path)
//   CONFORMANCE_SCENARIO    the scenario as JSON (see scenarios.py)
//   CONFORMANCE_API_KEY     the Helicone API key to send
//
// Every send is awaited before the process exits. The last stdout line is a JSON outcome:
// {"returned": <value or null>, "raised": <message or null>}.
import { pathToFileURL } from "node:url";

const endpoint = process.argv[2];
const entry = process.env.HELICONE_HELPERS_ENTRY;
const scenario = JSON.parse(process.env.CONFORMANCE_SCENARIO);
const apiKey = process.env.CONFORMANCE_API_KEY;
if (!endpoint || !entry || !apiKey) {
  console.error("usage: HELICONE_HELPERS_ENTRY=… CONFORMANCE_SCENARIO=… CONFORMANCE_API_KEY=… node npm_driver.mjs <endpoint>");
  process.exit(2);
}

const { HeliconeManualLogger } = await import(pathToFileURL(entry).href);

const logger = new HeliconeManualLogger({
  apiKey,
  loggingEndpoint: endpoint,
  ...(scenario.ctor_headers ? { headers: scenario.ctor_headers } : {}),
});

async function run() {
  switch (scenario.kind) {
    case "single_request":
      await logger.logSingleRequest(scenario.request, scenario.body, {
        additionalHeaders: scenario.headers,
        latencyMs: scenario.latency_ms,
      });
      return null;
    case "log_request":
      return await logger.logRequest(
        scenario.request,
        async (recorder) => {
          for (const result of scenario.results) recorder.appendResults(result);
          return scenario.returns;
        },
        scenario.headers,
        scenario.provider ?? undefined,
      );
    case "operation_raises":
      return await logger.logRequest(
        scenario.request,
        async () => {
          throw new Error(scenario.error);
        },
        scenario.headers,
        scenario.provider ?? undefined,
      );
    case "builder_response": {
      const builder = logger.logBuilder(scenario.request, scenario.headers);
      builder.setResponse(scenario.response);
      await builder.sendLog();
      return null;
    }
    case "builder_error": {
      const builder = logger.logBuilder(scenario.request, scenario.headers);
      try {
        throw new Error(scenario.error);
      } catch (err) {
        builder.setError(err);
      }
      await builder.sendLog();
      return null;
    }
    default:
      throw new Error(`unknown scenario kind ${scenario.kind}`);
  }
}

let outcome;
try {
  outcome = { returned: await run(), raised: null };
} catch (err) {
  outcome = { returned: null, raised: err instanceof Error ? err.message : String(err) };
}
process.stdout.write(JSON.stringify(outcome) + "\n");
