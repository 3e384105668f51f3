// A log's request and response as one conversation: a list of turns, each a role and its
// parts. Understands OpenAI chat (messages, tool_calls, role "tool"), Anthropic Messages
// (system, content blocks: text, image, tool_use, tool_result, thinking), the Responses API
// (instructions, input/output items: message, function_call, function_call_output,
// reasoning) and Gemini (contents/candidates parts). Anything else is shown as JSON.
//
// Part kinds: text, thinking, tool_call {name, id, input}, tool_result {id, text, isError},
// media {text}, json {value}. Rendering is in app.js; nothing here touches the DOM.

const text = (value) => ({ kind: "text", text: String(value) });
const json = (value) => ({ kind: "json", value });

function stringify(value) {
  if (typeof value === "string") return value;
  return JSON.stringify(value, null, 2);
}

/** Pretty JSON when a string holds JSON (tool arguments usually do), else the string. */
function prettyArgs(value) {
  if (typeof value !== "string") return stringify(value ?? {});
  try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
}

function toolResultText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((b) => (b && typeof b.text === "string" ? b.text : stringify(b))).join("\n");
  }
  return stringify(content);
}

/** Parts of one content block of any of the supported APIs. */
function blockParts(block) {
  if (typeof block === "string") return [text(block)];
  if (!block || typeof block !== "object") return [json(block)];
  switch (block.type) {
    case "text": case "input_text": case "output_text":
      return [text(block.text ?? "")];
    case "refusal":
      return [text(block.refusal ?? "")];
    case "thinking":
      return [{ kind: "thinking", text: block.thinking ?? "" }];
    case "redacted_thinking":
      return [{ kind: "thinking", text: "[redacted thinking]" }];
    case "tool_use": case "server_tool_use":
      return [{ kind: "tool_call", name: block.name, id: block.id, input: prettyArgs(block.input) }];
    case "tool_result":
      return [{ kind: "tool_result", id: block.tool_use_id, text: toolResultText(block.content),
        isError: block.is_error === true }];
    case "image": case "image_url": case "input_image": case "input_audio": case "document":
    case "input_file":
      return [{ kind: "media", text: `[${block.type}]` }];
    default:
      if (typeof block.text === "string") return [text(block.text)];
      if (block.functionCall) {
        return [{ kind: "tool_call", name: block.functionCall.name, id: null,
          input: prettyArgs(block.functionCall.args) }];
      }
      if (block.functionResponse) {
        return [{ kind: "tool_result", id: block.functionResponse.name,
          text: stringify(block.functionResponse.response), isError: false }];
      }
      return [json(block)];
  }
}

function contentParts(content) {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return content ? [text(content)] : [];
  if (Array.isArray(content)) return content.flatMap(blockParts);
  return blockParts(content);
}

/** One OpenAI or Anthropic message. */
function messageTurn(message) {
  if (!message || typeof message !== "object") return { role: "unknown", parts: [json(message)] };
  const role = message.role ?? "unknown";
  if (role === "tool") {
    return { role, parts: [{ kind: "tool_result", id: message.tool_call_id,
      text: toolResultText(message.content), isError: false }] };
  }
  const parts = [];
  if (typeof message.reasoning_content === "string" && message.reasoning_content) {
    parts.push({ kind: "thinking", text: message.reasoning_content });
  }
  parts.push(...contentParts(message.content));
  if (typeof message.refusal === "string" && message.refusal) parts.push(text(message.refusal));
  for (const call of message.tool_calls ?? []) {
    const fn = call.function ?? {};
    parts.push({ kind: "tool_call", name: fn.name, id: call.id, input: prettyArgs(fn.arguments) });
  }
  if (message.function_call) {
    parts.push({ kind: "tool_call", name: message.function_call.name, id: null,
      input: prettyArgs(message.function_call.arguments) });
  }
  return { role, parts };
}

/** One Responses API input or output item. */
function itemTurn(item) {
  if (typeof item === "string") return { role: "user", parts: [text(item)] };
  if (!item || typeof item !== "object") return { role: "unknown", parts: [json(item)] };
  switch (item.type) {
    case "function_call": case "custom_tool_call":
      return { role: "assistant", parts: [{ kind: "tool_call", name: item.name,
        id: item.call_id ?? item.id, input: prettyArgs(item.arguments ?? item.input) }] };
    case "function_call_output": case "custom_tool_call_output":
      return { role: "tool", parts: [{ kind: "tool_result", id: item.call_id,
        text: toolResultText(item.output), isError: false }] };
    case "reasoning": {
      const summary = (item.summary ?? []).map((s) => s.text ?? "").join("\n");
      return { role: "assistant", parts: [{ kind: "thinking", text: summary || "[reasoning]" }] };
    }
    case "message": case undefined:
      return { role: item.role ?? "assistant", parts: contentParts(item.content) };
    default:
      return { role: "assistant", parts: [json(item)] };
  }
}

function geminiTurn(content) {
  return { role: content?.role ?? "model", parts: (content?.parts ?? []).flatMap(blockParts) };
}

/** The request body's conversation; [] when its shape is unknown (raw JSON shows it). */
export function requestTurns(body) {
  if (!body || typeof body !== "object") return [];
  const turns = [];
  if (body.system !== undefined) turns.push({ role: "system", parts: contentParts(body.system) });
  if (typeof body.instructions === "string") {
    turns.push({ role: "system", parts: [text(body.instructions)] });
  }
  if (Array.isArray(body.messages)) turns.push(...body.messages.map(messageTurn));
  if (typeof body.input === "string") turns.push({ role: "user", parts: [text(body.input)] });
  else if (Array.isArray(body.input)) turns.push(...body.input.map(itemTurn));
  if (typeof body.prompt === "string") turns.push({ role: "user", parts: [text(body.prompt)] });
  if (Array.isArray(body.contents)) turns.push(...body.contents.map(geminiTurn));
  return turns;
}

/** The response's turns; a body that is not JSON is one text turn. */
export function responseTurns(responseBody) {
  let body = responseBody;
  if (typeof body === "string") {
    try { body = JSON.parse(body); } catch { return body ? [{ role: "response", parts: [text(body)] }] : []; }
  }
  if (!body || typeof body !== "object") return [{ role: "response", parts: [json(body)] }];
  if (body.error) return [{ role: "error", parts: [json(body.error)] }];
  if (Array.isArray(body.choices)) {
    return body.choices.map((choice) => (choice.message
      ? messageTurn({ role: "assistant", ...choice.message })
      : { role: "assistant", parts: contentParts(choice.text ?? "") }));
  }
  if (Array.isArray(body.output)) return body.output.map(itemTurn);
  if (Array.isArray(body.content)) {
    return [{ role: body.role ?? "assistant", parts: contentParts(body.content) }];
  }
  if (Array.isArray(body.candidates)) return body.candidates.map((c) => geminiTurn(c.content));
  return [{ role: "response", parts: [json(body)] }];
}

/** Every tool call in the turns, for the request view's summary. */
export function toolCalls(turns) {
  return turns.flatMap((turn) => turn.parts.filter((part) => part.kind === "tool_call"));
}
