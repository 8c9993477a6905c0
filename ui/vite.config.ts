import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vitest/config";
import preact from "@preact/preset-vite";

/** A .gz beside each script and stylesheet: `wharf serve` (aiohttp's FileResponse) sends it
 * to browsers that accept gzip, so nothing is compressed per request. */
function precompress(): Plugin {
  return {
    name: "wharf-precompress",
    apply: "build",
    closeBundle() {
      const assets = join(import.meta.dirname, "dist", "assets");
      for (const name of readdirSync(assets)) {
        if (/\.(js|css|svg)$/.test(name)) {
          writeFileSync(join(assets, `${name}.gz`), gzipSync(readFileSync(join(assets, name)), { level: 9 }));
        }
      }
    },
  };
}

// `npm run build` writes dist/: index.html plus assets/<name>-<hash>.js|css, which
// `wharf serve` caches for a year (the hash changes with the content).
export default defineConfig({
  plugins: [preact(), precompress()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0, // no data: URLs; every asset is a file of its own
    modulePreload: { polyfill: false }, // nothing inline: the CSP allows script from 'self' only
    sourcemap: false,
  },
  server: {
    // `npm run dev` proxies the API to a `wharf serve` on :5000
    proxy: {
      "/api": "http://127.0.0.1:5000",
      "/c": "http://127.0.0.1:5000",
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    setupFiles: ["src/test-setup.ts"],
  },
});
