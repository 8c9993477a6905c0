import { expect, test } from "vitest";
import { auditQuery, filtersOf, NO_FILTERS, utcOf, vocabulary } from "./audit";

test("filters from the URL and to Harbor's q", () => {
  const filters = filtersOf(new URLSearchParams("op=create&type=user&user=admin&resource=frank"));
  expect(filters).toEqual({ ...NO_FILTERS, operation: "create", resourceType: "user", username: "admin", resource: "frank" });
  expect(auditQuery(filters)).toBe("operation=create,resource_type=user,resource=~frank,username=~admin");
  expect(auditQuery(NO_FILTERS)).toBe("");
  // q's reserved characters cannot smuggle in another term
  expect(auditQuery({ ...NO_FILTERS, username: "a,operation=delete" })).toBe("username=~a operation delete");
});

test("a time range in UTC, open on either side", () => {
  const from = "2026-12-01T10:00";
  expect(utcOf(from)).toBe(new Date(from).toISOString().slice(0, 19));
  expect(utcOf("2026-12-01T10:00", true).endsWith(":59")).toBe(true);
  expect(auditQuery({ ...NO_FILTERS, from })).toBe(`op_time=[${utcOf(from)}~]`);
  expect(auditQuery({ ...NO_FILTERS, to: from })).toBe(`op_time=[~${utcOf(from, true)}]`);
  expect(utcOf("not a time")).toBe("");
});

test("operations and resource types from the event types", () => {
  expect(vocabulary(["create_user", "delete_user", "create_artifact", "update_configuration", "odd"])).toEqual({
    operations: ["create", "delete", "update"],
    resourceTypes: ["artifact", "configuration", "user"],
  });
});
