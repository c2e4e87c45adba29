/* Rapport UI: pipeline drag-and-drop (native HTML5 + fetch), confirmations. No build step. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function moveCard(board, cardId, stageId) {
    var body = new URLSearchParams({ stage_id: stageId, csrf_token: csrfToken() });
    board.classList.add("busy");
    return fetch("/board/opportunities/" + encodeURIComponent(cardId), {
      method: "PATCH",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRF-Token": csrfToken(),
        "HX-Request": "true"
      },
      body: body
    }).then(function (response) {
      var redirect = response.headers.get("HX-Redirect");
      if (redirect) { window.location.href = redirect; return null; }
      return response.text();
    }).then(function (html) {
      board.classList.remove("busy");
      if (html === null) { return; }
      board.innerHTML = html;
      if (window.htmx) { window.htmx.process(board); }
      var moved = board.querySelector('.deal-card[data-id="' + cardId + '"]');
      if (moved) { moved.classList.add("just-moved"); moved.focus({ preventScroll: true }); }
      board.dispatchEvent(new CustomEvent("rapport:moved", { bubbles: true, detail: { id: cardId, stage: stageId } }));
    }).catch(function () {
      board.classList.remove("busy");
      window.location.reload();
    });
  }

  function initBoard(board) {
    board.addEventListener("dragstart", function (event) {
      var card = event.target.closest && event.target.closest(".deal-card");
      if (!card) { return; }
      event.dataTransfer.setData("text/plain", card.dataset.id);
      event.dataTransfer.effectAllowed = "move";
      card.classList.add("dragging");
    });
    board.addEventListener("dragend", function (event) {
      var card = event.target.closest && event.target.closest(".deal-card");
      if (card) { card.classList.remove("dragging"); }
      board.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
    });
    board.addEventListener("dragover", function (event) {
      var stage = event.target.closest && event.target.closest(".stage");
      if (!stage) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      stage.classList.add("drop-target");
    });
    board.addEventListener("dragleave", function (event) {
      var stage = event.target.closest && event.target.closest(".stage");
      if (stage && !stage.contains(event.relatedTarget)) { stage.classList.remove("drop-target"); }
    });
    board.addEventListener("drop", function (event) {
      var stage = event.target.closest && event.target.closest(".stage");
      if (!stage) { return; }
      event.preventDefault();
      stage.classList.remove("drop-target");
      var id = event.dataTransfer.getData("text/plain");
      var card = board.querySelector('.deal-card[data-id="' + id + '"]');
      if (!card || card.dataset.stageId === stage.dataset.stageId) { return; }
      stage.querySelector(".cards").prepend(card);  // optimistic; the server answer replaces it
      moveCard(board, id, stage.dataset.stageId);
    });
    board.addEventListener("keydown", function (event) {
      var card = event.target.closest && event.target.closest(".deal-card");
      if (!card || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) { return; }
      var stages = Array.prototype.slice.call(board.querySelectorAll(".stage"));
      var index = stages.findIndex(function (s) { return s.dataset.stageId === card.dataset.stageId; });
      var target = stages[index + (event.key === "ArrowRight" ? 1 : -1)];
      if (!target) { return; }
      event.preventDefault();
      moveCard(board, card.dataset.id, target.dataset.stageId);
    });
    board.addEventListener("keyup", function (event) {
      var card = event.target.closest && event.target.closest(".deal-card");
      if (card && event.key === "Enter" && event.target === card) {
        window.location.href = "/opportunities/" + card.dataset.id;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-board]").forEach(initBoard);
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  // Close an open dropdown when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.dropdown[open]").forEach(function (d) {
      if (!d.contains(event.target)) { d.removeAttribute("open"); }
    });
  });
})();
