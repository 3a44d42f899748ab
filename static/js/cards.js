// Add a card: confirmCardSetup on a SetupIntent, then the server keeps (attaches) the card.
(() => {
  const form = document.querySelector("[data-add-card]");
  if (!form) return;
  const result = form.querySelector("[data-testid=payment-result]");
  const button = form.querySelector("[data-testid=add-payment-method]");
  const stripe = Stripe(form.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const post = async (url, body) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "x-csrftoken": form.dataset.csrf },
      body: JSON.stringify(body ?? {}),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data?.error?.message || "We could not save this card.");
    return data;
  };
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
