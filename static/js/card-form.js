// Shared by the pay page and the saved-cards page: a Stripe card element and same-origin JSON posts.
window.cardForm = (form) => {
  const stripe = Stripe(form.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const post = async (url, body, fallback) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "x-csrftoken": form.dataset.csrf },
      body: JSON.stringify(body ?? {}),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data?.error?.message || fallback);
    return data;
  };
  return { stripe, card, post };
};
