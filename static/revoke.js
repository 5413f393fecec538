// The /revoke/ page: find the take by its code (listen, download), remove it; say plainly
// what happened.
(() => {
  const form = document.getElementById("revoke-form");
  const result = document.getElementById("result");
  const mine = document.getElementById("mine");
  const list = document.getElementById("takes");
  const STATUS = { ACTIVE: "kept and playing in the room", EXPIRED: "expired and deleted",
                   REVOKED: "removed", EPHEMERAL: "waiting to be played once" };

  async function post(path) {
    // Sent as typed: the server forgives case, spaces, dashes and O/0, I/1 look-alikes.
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: form.token.value.trim() }),
    });
    return { resp, body: await resp.json() };
  }

  function showTakes(takes) {
    list.replaceChildren();
    for (const take of takes) {
      const item = document.createElement("li");
      const when = take.created_at ? new Date(take.created_at).toLocaleString() : "";
      const seconds = Math.round(take.duration_ms / 100) / 10;
      const about = document.createElement("p");
      about.textContent = `Recorded ${when}, ${seconds} s, ${take.consent_mode}: ${STATUS[take.status] || take.status}.`;
      item.append(about);
      if (take.audio_url) {
        const audio = document.createElement("audio");
        audio.controls = true;
        audio.preload = "none";
        audio.src = take.audio_url;
        audio.setAttribute("aria-label", "Your recording");
        const link = document.createElement("a");
        link.href = take.download_url;
        link.download = "my-recording.wav";
        link.textContent = "Download it";
        item.append(audio, " ", link);
      }
      list.append(item);
    }
    mine.hidden = takes.length === 0;
  }

  document.getElementById("find").addEventListener("click", async () => {
    if (!form.reportValidity()) return;
    result.textContent = "Looking…";
    try {
      const { resp, body } = await post("/api/v1/receipt");
      if (resp.ok) {
        showTakes(body.takes);
        result.textContent = "Here it is. The links work for a few minutes.";
      } else {
        mine.hidden = true;
        result.textContent = body.error ? body.error.message : "Something went wrong.";
      }
    } catch (err) {
      result.textContent = "The installation could not be reached. Please try again.";
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.textContent = "Removing…";
    try {
      const { resp, body } = await post("/api/v1/revoke");
      if (resp.ok) {
        result.textContent = body.revoked > 0
          ? `Removed ${body.revoked} recording${body.revoked === 1 ? "" : "s"}` +
            (body.derivatives_deleted ? ` and ${body.derivatives_deleted} thing${body.derivatives_deleted === 1 ? "" : "s"} made from it` : "") +
            ". It is gone and will not play again."
          : "That recording was already removed.";
        form.token.value = "";
        list.replaceChildren();
        mine.hidden = true;
      } else {
        result.textContent = body.error ? body.error.message : "Something went wrong.";
      }
    } catch (err) {
      result.textContent = "The installation could not be reached. Please try again.";
    }
  });
})();
