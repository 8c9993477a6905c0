import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { load } from "../session";
import { SignIn } from "./SignIn";

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function server(mode: string, password = "right") {
  let signedIn = false;
  return vi.fn(async (url: string, init?: RequestInit) => {
    if (url === "/api/v2.0/systeminfo") return json(200, { auth_mode: mode, oidc_provider_name: "Keycloak" });
    if (url === "/api/v2.0/users/current") {
      return signedIn ? json(200, { user_id: 1, username: "admin", sysadmin_flag: true }) : json(401, { errors: [{ code: "UNAUTHORIZED", message: "unauthorized" }] });
    }
    if (url === "/c/login") {
      const form = init?.body as URLSearchParams;
      if (form.get("password") === password) {
        signedIn = true;
        return new Response(null, { status: 200 });
      }
      return json(401, { errors: [{ code: "UNAUTHORIZED", message: "wrong username or password" }] });
    }
    return json(404, { errors: [{ code: "NOT_FOUND", message: "no" }] });
  });
}

afterEach(() => vi.unstubAllGlobals());

describe("sign in", () => {
  it("offers the OIDC provider when the auth mode is oidc_auth", async () => {
    vi.stubGlobal("fetch", server("oidc_auth"));
    window.history.replaceState(null, "", "/sign-in?next=%2Fprojects%2Fp");
    await load();
    render(<SignIn />);
    const button = await screen.findByRole("link", { name: /Login via OIDC provider/ });
    expect(button.getAttribute("href")).toBe("/c/oidc/login?redirect_url=%2Fprojects%2Fp");
  });

  it("has no OIDC button for local users; a wrong password says so; the right one goes on", async () => {
    vi.stubGlobal("fetch", server("db_auth"));
    window.history.replaceState(null, "", "/sign-in?next=%2Fprojects%2Fp");
    await load();
    render(<SignIn />);
    expect(screen.queryByRole("link", { name: /OIDC/ })).toBeNull();
    fireEvent.input(screen.getByLabelText("Username"), { target: { value: "admin" } });
    fireEvent.input(screen.getByLabelText("Password"), { target: { value: "wrong" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByText("The username or password is wrong.");
    fireEvent.input(screen.getByLabelText("Password"), { target: { value: "right" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(window.location.pathname).toBe("/projects/p"));
  });
});
