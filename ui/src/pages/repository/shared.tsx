// Pieces shared by the repository page (its artifacts) and the artifact page.
import { useState } from "preact/hooks";
import { del } from "../../api/client";
import type { Accessory, Artifact, Platform } from "../../api/types";
import { Badge } from "../../components/Badge";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { bytes } from "../../format";
import { artifactApi, artifactHref } from "../../links";
import { registryHost } from "../project/Summary";

/** "sha256:0123456789ab" — enough of a digest to tell artifacts apart. */
export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(":");
  return hex ? `${algorithm}:${hex.slice(0, 12)}` : digest;
}

/** The reference a client pulls: HOST/project/repo:tag, or HOST/project/repo@digest. */
export function pullReference(project: string, repo: string, reference: string): string {
  const at = reference.includes(":") ? "@" : ":";
  return `${registryHost()}/${project}/${repo}${at}${reference}`;
}

export function pullCommand(project: string, repo: string, reference: string): string {
  return `docker pull ${pullReference(project, repo, reference)}`;
}

/** "linux/arm64/v8" */
export function platformText(p: { os?: string; architecture?: string; variant?: string } | null | undefined): string {
  if (!p) return "";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The platforms of an artifact: its own (an image), or those of its index's manifests. */
export function platforms(a: Artifact): string[] {
  if (a.references && a.references.length > 0) {
    return a.references.map((r) => platformText(r.platform as Platform | null) || "unknown platform");
  }
  const own = platformText(a.extra_attrs);
  return own ? [own] : [];
}

const ACCESSORY_NAMES: Record<string, string> = {
  "signature.cosign": "cosign signature",
  "signature.notation": "Notation signature",
  "sbom.harbor": "SBOM",
  "sbom.spdx": "SBOM (SPDX)",
  "sbom.cyclonedx": "SBOM (CycloneDX)",
  attestation: "attestation",
  subject: "referrer",
};

export function accessoryName(type: string): string {
  return ACCESSORY_NAMES[type] ?? type;
}

/** The accessories (signatures, SBOMs, attestations…) of an artifact, as a tree under it. */
export function AccessoryTree({ project, repo, accessories }: { project: string; repo: string; accessories: Accessory[] }) {
  if (accessories.length === 0) return null;
  return (
    <details class="accessories">
      <summary>
        {accessories.length} {accessories.length === 1 ? "accessory" : "accessories"}
      </summary>
      <ul class="tree">
        {accessories.map((a) => (
          <li key={a.digest}>
            <Badge tone={a.type.startsWith("signature") ? "ok" : "info"}>{accessoryName(a.type)}</Badge>{" "}
            <a href={artifactHref(project, repo, a.digest)} title={a.digest}>
              <code>{shortDigest(a.digest)}</code>
            </a>{" "}
            <span class="muted">{bytes(a.size)}</span>
          </li>
        ))}
      </ul>
    </details>
  );
}

/** A tag with its delete button (and the confirm dialog it opens). */
export function TagChip({
  project,
  repo,
  digest,
  name,
  onDeleted,
}: {
  project: string;
  repo: string;
  digest: string;
  name: string;
  onDeleted: () => void;
}) {
  const [asking, setAsking] = useState(false);
  return (
    <span class="tag-chip">
      <span class="tag-name">{name}</span>
      <button type="button" class="button-plain tag-delete" aria-label={`Delete tag ${name}`} onClick={() => setAsking(true)}>
        ×
      </button>
      {asking && (
        <ConfirmDialog
          title={`Delete tag ${name}?`}
          confirmLabel="Delete tag"
          danger
          onClose={() => setAsking(false)}
          onConfirm={async () => {
            await del(`${artifactApi(project, repo, digest)}/tags/${encodeURIComponent(name)}`);
            onDeleted();
          }}
        >
          <p>
            <code>
              {project}/{repo}:{name}
            </code>{" "}
            will no longer name an artifact. The artifact itself stays, reachable by its digest and its other tags.
          </p>
        </ConfirmDialog>
      )}
    </span>
  );
}

/** The "Delete" button of an artifact and its confirm dialog. */
export function DeleteArtifact({
  project,
  repo,
  artifact,
  onDeleted,
  label = "Delete",
}: {
  project: string;
  repo: string;
  artifact: Artifact;
  onDeleted: () => void;
  label?: string;
}) {
  const [asking, setAsking] = useState(false);
  const tags = artifact.tags ?? [];
  return (
    <>
      <button
        type="button"
        class="button-small button-danger"
        aria-label={`${label === "Delete" ? "Delete artifact" : label} ${shortDigest(artifact.digest)}`}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
      {asking && (
        <ConfirmDialog
          title="Delete this artifact?"
          confirmLabel="Delete artifact"
          danger
          onClose={() => setAsking(false)}
          onConfirm={async () => {
            await del(artifactApi(project, repo, artifact.digest));
            onDeleted();
          }}
        >
          <p>
            <code>{artifact.digest}</code>
          </p>
          <p>
            {tags.length > 0
              ? `Its ${tags.length === 1 ? "tag" : `${tags.length} tags`} (${tags
                  .slice(0, 5)
                  .map((t) => t.name)
                  .join(", ")}${tags.length > 5 ? ", …" : ""}) and its accessories go with it.`
              : "Its accessories go with it."}{" "}
            This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
