// The /revoke/ page: send the code, say plainly what happened.
(() => {
  const form = document.getElementById("revoke-form");
  const result = document.getElementById("result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Sent as typed: the server forgives case, spaces, dashes and O/0, I/1 look-alikes.
    const token = form.token.value.trim();
    result.textContent = "Removing…";
    try {
      const resp = await fetch("/api/v1/revoke", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token }),
      });
      const body = await resp.json();
      if (resp.ok) {
        result.textContent = body.revoked > 0
          ? `Removed ${body.revoked} recording${body.revoked === 1 ? "" : "s"}` +
            (body.derivatives_deleted ? ` and ${body.derivatives_deleted} thing${body.derivatives_deleted === 1 ? "" : "s"} made from it` : "") +
            ". It is gone and will not play again."
          : "That recording was already removed.";
        form.token.value = "";
      } else {
        result.textContent = body.error ? body.error.message : "Something went wrong.";
      }
    } catch (err) {
      result.textContent = "The installation could not be reached. Please try again.";
    }
  });
})();
