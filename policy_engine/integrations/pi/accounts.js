// Extra accounts (`anthropic-2`, `openai-codex-3`, ...) as pi providers. pi resolves a credential from
// auth.json by the model's provider name, and an OAuth credential only when an OAuth provider of exactly
// that name is registered, so each extra account is registered as a provider that clones its base
// provider's models (as pi's registry has them, models.json overrides included) and OAuth functions.
// Pure functions (unit-tested with `node --test`).

/** The base provider and index of an extra account name ("anthropic-2" -> {base: "anthropic", index: 2}). */
export function splitAccount(name) {
  const match = /^(.+)-(\d+)$/.exec(String(name ?? ""));
  if (!match) return null;
  const index = Number(match[2]);
  if (!Number.isInteger(index) || index < 2) return null;
  return { base: match[1], index };
}

/** The display name of an extra account: "Anthropic #2", or "work — Anthropic #2" with a label. */
export function displayName(baseName, index, label) {
  const name = `${baseName} #${index}`;
  return label ? `${label} — ${name}` : name;
}

/** The models of `base` cloned for the extra account `index`: same ids, "<name> (#N)", everything else kept. */
export function cloneModels(models, base, index) {
  return models
    .filter((model) => model && model.provider === base)
    .map((model) => {
      const clone = {
        id: model.id,
        name: `${model.name ?? model.id} (#${index})`,
        api: model.api,
        baseUrl: model.baseUrl,
        reasoning: Boolean(model.reasoning),
        input: Array.isArray(model.input) ? [...model.input] : ["text"],
        cost: model.cost ? { ...model.cost } : { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
        contextWindow: model.contextWindow ?? 128000,
        maxTokens: model.maxTokens ?? 4096,
      };
      if (model.thinkingLevelMap) clone.thinkingLevelMap = { ...model.thinkingLevelMap };
      if (model.headers) clone.headers = { ...model.headers };
      if (model.compat) clone.compat = model.compat;
      return clone;
    });
}

/** The environment variable an extra API-key account's key may come from: OPENAI_2_API_KEY for openai-2. */
export function apiKeyVariable(name) {
  return `${String(name).toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_API_KEY`;
}

/**
 * The `pi.registerProvider` config of the extra account `name`, or null when its base has no models.
 * `baseOAuth` is the base provider's OAuth provider (or undefined for an API-key family).
 */
export function providerConfig(name, { models, baseOAuth, baseName, label }) {
  const account = splitAccount(name);
  if (!account) return null;
  const cloned = cloneModels(models, account.base, account.index);
  // pi refuses (and, for a registration queued at start-up, stops on) models without an API or URL.
  if (cloned.length === 0 || cloned.some((m) => !m.api || !m.baseUrl)) return null;
  const config = {
    name: displayName(baseName ?? baseOAuth?.name ?? account.base, account.index, label),
    baseUrl: cloned[0].baseUrl,
    api: cloned[0].api,
    models: cloned,
  };
  if (baseOAuth) {
    const oauth = { ...baseOAuth, name: displayName(baseOAuth.name ?? account.base, account.index, label) };
    delete oauth.id;
    for (const key of ["login", "refreshToken", "getApiKey", "modifyModels"]) {
      if (typeof baseOAuth[key] === "function") oauth[key] = baseOAuth[key].bind(baseOAuth);
    }
    config.oauth = oauth;
  } else {
    config.apiKey = apiKeyVariable(name);
  }
  return config;
}

/** The extra accounts among auth.json's names whose base provider pi knows ("anthropic-2" when "anthropic" is known). */
export function accountsFromAuth(auth, knownBases) {
  if (!auth || typeof auth !== "object") return [];
  const bases = new Set(knownBases);
  return Object.keys(auth).filter((name) => {
    const account = splitAccount(name);
    return account !== null && bases.has(account.base) && !bases.has(name);
  });
}

/**
 * The models of a models.json custom provider (`{"providers": {NAME: {baseUrl, api, models: [...]}}}`) in the
 * shape of pi's registry (`provider`, `api`, `baseUrl` on each model), so its extra accounts can be cloned
 * before pi's registry is at hand. A built-in provider's override (no `models`) gives [].
 */
export function customModels(overrides, base) {
  const entry = overrides && typeof overrides === "object" ? overrides[base] : undefined;
  if (!entry || typeof entry !== "object" || !Array.isArray(entry.models)) return [];
  return entry.models
    .filter((model) => model && typeof model === "object" && typeof model.id === "string")
    .map((model) => ({
      ...model,
      provider: base,
      api: model.api ?? entry.api,
      baseUrl: model.baseUrl ?? entry.baseUrl,
    }));
}

/** Every provider pi knows: its built-in providers and the custom providers of models.json (each once). */
export function knownProviders(builtIn, overrides) {
  const custom = overrides && typeof overrides === "object" ? Object.keys(overrides) : [];
  return [...new Set([...(builtIn ?? []), ...custom])];
}
