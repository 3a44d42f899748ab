// Add a card: confirmCardSetup on a SetupIntent, then the server keeps (attaches) the card.
(() => {
  const form = document.querySelector("[data-add-card]");
  if (!form) return;
  const result = form.querySelector("[data-testid=payment-result]");
  const button = form.querySelector("[data-testid=add-payment-method]");
  const { stripe, card, post: send } = window.cardForm(form);
  const post = (url, body) => send(url, body, "We could not save this card.");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    result.textContent = "Saving…";
    try {
      const setup = await post("/portal/payments/setup-intent");
      const confirmed = await stripe.confirmCardSetup(setup.client_secret, { payment_method: { card } });
      if (confirmed.error) throw new Error(confirmed.error.message);
      const saved = await post("/portal/payment-methods", { setup_intent_id: setup.setup_intent_id });
      window.location.assign(saved.redirect);
    } catch (error) {
      result.textContent = error.message;
      result.className = "payment-result bad";
      button.disabled = false;
    }
  });
})();
