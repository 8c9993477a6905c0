// A throwaway OpenID provider for Wharf's tests: the certified `oidc-provider` package
// with one confidential client, a fixed list of users (with a `groups` claim), and plain
// HTML login and consent forms that a test drives with a real HTTP client.
//
//   node provider.mjs CONFIG.json      (prints "ready" on stdout once it listens)
//
// CONFIG: {port, issuer, client_id, client_secret, redirect_uris, signing_jwk,
//          users: [{sub, username, password, name, email, groups}]}
// Test hooks: POST /test/disable?sub=S makes the account unknown from then on (its refresh
// tokens stop working, as for a user removed from the company directory).
import fs from 'node:fs';
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const users = new Map(config.users.map((u) => [u.sub, u]));
const disabled = new Set();

const provider = new Provider(config.issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [config.signing_jwk] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false, // the groups go into the ID token, as Harbor's setups do
  async findAccount(ctx, sub) {
    const user = users.get(sub);
    if (!user || disabled.has(sub)) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: user.name,
          preferred_username: user.username,
          email: user.email,
          groups: user.groups,
        };
      },
    };
  },
  features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
  pkce: { required: () => true },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  cookies: {
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_resume' },
    keys: ['wharf-test-provider-cookie-key'],
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 86400, Session: 3600, Grant: 86400 },
});

function page(res, html) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><body>${html}</body></html>`);
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return page(
        res,
        `<h1>Sign in</h1><form method="post" action="/interaction/${uid}/login">
         <input name="username"><input name="password" type="password">
         <button type="submit">Sign in</button></form>`,
      );
    }
    return page(
      res,
      `<h1>Allow ${params.client_id}?</h1><form method="post" action="/interaction/${uid}/confirm">
       <button type="submit">Allow</button></form>`,
    );
  }
  const form = await body(req);
  if (action === 'login') {
    const user = [...users.values()].find(
      (u) => u.username === form.get('username') && u.password === form.get('password'),
    );
    if (!user || disabled.has(user.sub)) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      return res.end('wrong username or password');
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, {
      mergeWithLastSubmission: false,
    });
  }
  // consent: grant what the client asked for
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, config.issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (req.method === 'POST' && url.pathname === '/test/disable') {
      disabled.add(url.searchParams.get('sub'));
      res.writeHead(204);
      return res.end();
    }
    return handler(req, res);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err && err.message));
  }
});
server.listen(config.port, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
