// Extra accounts as pi providers: cloned models, cloned OAuth, the right names.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  accountsFromAuth,
  customModels,
  knownProviders,
  apiKeyVariable,
  cloneModels,
  displayName,
  providerConfig,
  splitAccount,
} from "../../../../policy_engine/integrations/pi/accounts.js";

const MODELS = [
  {
    id: "claude-sonnet-4-5",
    name: "Claude Sonnet 4.5",
    provider: "anthropic",
    api: "anthropic-messages",
    baseUrl: "http://127.0.0.1:9999",
    reasoning: true,
    thinkingLevelMap: { xhigh: "high" },
    input: ["text", "image"],
    cost: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
    contextWindow: 200000,
    maxTokens: 64000,
  },
  { id: "gpt-5", name: "GPT-5", provider: "openai", api: "openai-responses", baseUrl: "https://api.openai.com/v1", reasoning: true, input: ["text"], cost: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0 }, contextWindow: 1, maxTokens: 1 },
];

test("extra account names split into base and index", () => {
  assert.deepEqual(splitAccount("anthropic-2"), { base: "anthropic", index: 2 });
  assert.deepEqual(splitAccount("google-gemini-cli-12"), { base: "google-gemini-cli", index: 12 });
  assert.equal(splitAccount("anthropic"), null);
  assert.equal(splitAccount("anthropic-1"), null, "#1 is the base account");
  assert.equal(splitAccount("anthropic-x"), null);
});

test("display names follow pi-multi-pass", () => {
  assert.equal(displayName("Anthropic (Claude Pro/Max)", 2), "Anthropic (Claude Pro/Max) #2");
  assert.equal(displayName("ChatGPT Plus/Pro (Codex)", 3, "work"), "work — ChatGPT Plus/Pro (Codex) #3");
});

test("models are cloned from the base provider only, thinkingLevelMap and URL kept", () => {
  const cloned = cloneModels(MODELS, "anthropic", 2);
  assert.equal(cloned.length, 1);
  assert.equal(cloned[0].id, "claude-sonnet-4-5");
  assert.equal(cloned[0].name, "Claude Sonnet 4.5 (#2)");
  assert.equal(cloned[0].baseUrl, "http://127.0.0.1:9999", "a models.json baseUrl carries over");
  assert.deepEqual(cloned[0].thinkingLevelMap, { xhigh: "high" }, "pi-multi-pass 1.3.0 lost it (issue #31)");
  assert.equal(cloned[0].provider, undefined, "the clone is the new provider's");
  cloned[0].cost.input = 0;
  assert.equal(MODELS[0].cost.input, 3, "a copy, not the registry's object");
});

test("an OAuth family's extra account gets the base's OAuth functions under its own name", () => {
  let called = null;
  const baseOAuth = {
    id: "anthropic",
    name: "Anthropic (Claude Pro/Max)",
    login: async () => "login",
    refreshToken: async (c) => c,
    getApiKey(credentials) {
      called = this;
      return credentials.access;
    },
  };
  const config = providerConfig("anthropic-2", { models: MODELS, baseOAuth, label: "work" });
  assert.equal(config.name, "work — Anthropic (Claude Pro/Max) #2");
  assert.equal(config.baseUrl, "http://127.0.0.1:9999");
  assert.equal(config.api, "anthropic-messages");
  assert.equal(config.apiKey, undefined);
  assert.equal(config.oauth.id, undefined, "pi sets the id from the provider name");
  assert.equal(config.oauth.name, "work — Anthropic (Claude Pro/Max) #2");
  assert.equal(config.oauth.getApiKey({ access: "tok" }), "tok");
  assert.equal(called, baseOAuth, "bound to the base provider object");
});

test("an API-key family's extra account reads its key from auth.json or its own variable", () => {
  const config = providerConfig("openai-2", { models: MODELS });
  assert.equal(config.oauth, undefined);
  assert.equal(config.apiKey, "OPENAI_2_API_KEY");
  assert.equal(apiKeyVariable("google-gemini-cli-3"), "GOOGLE_GEMINI_CLI_3_API_KEY");
});

test("no models for the base, or not an extra account: nothing to register", () => {
  assert.equal(providerConfig("xai-2", { models: MODELS }), null);
  assert.equal(providerConfig("anthropic", { models: MODELS }), null);
});

test("auth.json's extra accounts of known families", () => {
  const auth = { anthropic: {}, "anthropic-2": {}, "openai-codex-3": {}, "mystery-2": {}, "anthropic-x": {} };
  assert.deepEqual(accountsFromAuth(auth, ["anthropic", "openai-codex"]), ["anthropic-2", "openai-codex-3"]);
  assert.deepEqual(accountsFromAuth(undefined, ["anthropic"]), []);
});

test("models pi would refuse (no API, no URL) register nothing rather than stop pi", () => {
  const broken = [{ ...MODELS[0], api: undefined }];
  assert.equal(providerConfig("anthropic-2", { models: broken }), null);
  assert.equal(providerConfig("anthropic-2", { models: [{ ...MODELS[0], baseUrl: "" }] }), null);
});

test("every provider pi knows has extra accounts: built-in ones and models.json custom providers", () => {
  const overrides = {
    anthropic: { baseUrl: "http://127.0.0.1:1" },
    ollama: { baseUrl: "http://127.0.0.1:11434/v1", api: "openai-completions", apiKey: "ollama",
              models: [{ id: "qwen3", name: "Qwen 3" }, { id: "llama4", api: "openai-responses" }, { name: "no id" }] },
  };
  const known = knownProviders(["anthropic", "openai", "openrouter", "zai"], overrides);
  assert.deepEqual(known, ["anthropic", "openai", "openrouter", "zai", "ollama"]);
  const auth = { "openrouter-2": {}, "zai-3": {}, "ollama-2": {}, "mystery-2": {} };
  assert.deepEqual(accountsFromAuth(auth, known), ["openrouter-2", "zai-3", "ollama-2"]);
  const models = customModels(overrides, "ollama");
  assert.deepEqual(models.map((m) => [m.id, m.provider, m.api, m.baseUrl]), [
    ["qwen3", "ollama", "openai-completions", "http://127.0.0.1:11434/v1"],
    ["llama4", "ollama", "openai-responses", "http://127.0.0.1:11434/v1"],
  ]);
  assert.deepEqual(customModels(overrides, "anthropic"), [], "an override of a built-in provider has no models");
  const config = providerConfig("ollama-2", { models, baseName: "ollama" });
  assert.equal(config.name, "ollama #2");
  assert.equal(config.baseUrl, "http://127.0.0.1:11434/v1");
  assert.deepEqual(config.models.map((m) => m.id), ["qwen3", "llama4"]);
  assert.equal(config.apiKey, "OLLAMA_2_API_KEY");
  const openrouter = providerConfig("openrouter-2", {
    models: [{ id: "x/y", provider: "openrouter", api: "openai-completions", baseUrl: "https://openrouter.ai/api/v1" }],
  });
  assert.equal(openrouter.name, "openrouter #2");
});
